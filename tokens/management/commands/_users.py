"""What the tokens commands share: finding the user a command line names."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.management.base import CommandError


def find_user(username: str) -> AbstractBaseUser:
    """Return the user with this username, or raise a `CommandError` that says so."""
    user_model = get_user_model()
    try:
        return user_model._default_manager.get_by_natural_key(username)
    except user_model.DoesNotExist as exc:
        raise CommandError(f"No user named {username!r}.") from exc
