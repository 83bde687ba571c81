from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """The site's users."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
