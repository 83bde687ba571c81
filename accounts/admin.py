from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from tokens.admin import UserSessionsAdminMixin

from .models import User


@admin.register(User)
class UserAdmin(UserSessionsAdminMixin, DjangoUserAdmin):
    """The site's user admin, with the tokens app's session list and "end all sessions" action."""
