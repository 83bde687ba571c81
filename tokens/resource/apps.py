from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ResourceConfig(AppConfig):
    """The resource-server side of the tokens app: no models, one management command."""

    name = "tokens.resource"
    label = "tokens_resource"
    verbose_name = _("Tokens (resource server)")

    def ready(self) -> None:
        from django.core import checks as django_checks

        from .checks import check_resource_settings

        django_checks.register(check_resource_settings)
