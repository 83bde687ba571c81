from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    """The site's users."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"


class AdminConfig(admin_apps.AdminConfig):
    """Django's admin, with the tokens app's throttled login as the default site.

    Named in INSTALLED_APPS in place of "django.contrib.admin" (Django's documented way to
    replace the default site); `default = False` keeps `AccountsConfig` the one "accounts" uses.
    """

    default = False
    default_site = "tokens.admin_site.ThrottledAdminSite"
