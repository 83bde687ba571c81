from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TokensConfig(AppConfig):
    """The reusable tokens app: sessions, rotation and revocation in Redis."""

    name = "tokens"
    verbose_name = _("Tokens")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, receivers, schema  # noqa: F401  (checks and schema register on import)

        receivers.connect()
