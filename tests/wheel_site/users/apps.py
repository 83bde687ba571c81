from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "wheel_site.users"
    label = "users"
    default_auto_field = "django.db.models.BigAutoField"
