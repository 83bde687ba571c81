"""End a user's sessions whenever who may be signed in changes.

Connected in `TokensConfig.ready()`. They catch a password change by any path that calls
`set_password()` and `save()` (the API, the admin form, `changepassword`), deactivation through
`save()`, and deletion. Bulk `QuerySet.update()` sends no signals; call
`tokens.services.end_all_sessions()` after one.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_init, post_save

from . import services

_WAS_ACTIVE_ATTR = "_tokens_was_active"


def remember_active(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Remember `is_active` as loaded, to see a deactivation on save without a query."""
    instance.__dict__[_WAS_ACTIVE_ATTR] = instance.__dict__.get("is_active", True)


def end_sessions_on_change(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """End all sessions after a password change or a deactivation."""
    if created:
        return
    was_active = instance.__dict__.get(_WAS_ACTIVE_ATTR, True)
    instance.__dict__[_WAS_ACTIVE_ATTR] = instance.is_active
    if was_active and not instance.is_active:
        services.end_all_sessions(services.user_key(instance), reason="deactivated")
    # AbstractBaseUser.set_password() keeps the raw password in `_password` until save() has
    # finished, so a password change is visible here whatever path made it.
    elif getattr(instance, "_password", None) is not None:
        keep = instance.__dict__.pop(services.KEEP_SESSION_ATTR, None)
        services.end_all_sessions(services.user_key(instance), reason="password_change", keep=keep)


def end_sessions_on_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    """End all sessions of a deleted user."""
    services.end_all_sessions(services.user_key(instance), reason="deleted")


def connect() -> None:
    """Connect the receivers to the active user model."""
    user_model = get_user_model()
    post_init.connect(remember_active, sender=user_model, dispatch_uid="tokens.remember_active")
    post_save.connect(
        end_sessions_on_change, sender=user_model, dispatch_uid="tokens.end_on_change"
    )
    post_delete.connect(
        end_sessions_on_delete, sender=user_model, dispatch_uid="tokens.end_on_delete"
    )
