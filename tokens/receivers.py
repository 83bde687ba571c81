"""End a user's sessions whenever who may be signed in changes, before the change commits.

Connected in `TokensConfig.ready()`. They catch a password change by any path that calls
`set_password()` and `save()` (the API, the admin form, `changepassword`), password login
switched off by `set_unusable_password()` (the admin's "disabled" choice), deactivation through
`save()`, and deletion. Bulk `QuerySet.update()` sends no signals; call
`tokens.services.end_all_sessions()` after one.

Fail safe at the commit boundary: the sessions end in pre_save / pre_delete, so a store that
cannot be reached raises `StoreUnavailable` there and the change never reaches the database
(the API answers 503, the admin shows a message, `changepassword` an error). Ending them also
records the user's "ended before" time, which refuses any login whose password check began
before it. After the change is written (post_save / post_delete, on commit when inside a
transaction), the sessions are ended once more, best-effort: that catches a login which
checked the old password between the first ending and the commit.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import router, transaction
from django.db.models.signals import post_delete, post_init, post_save, pre_delete, pre_save

from . import services

_WAS_ACTIVE_ATTR = "_tokens_was_active"
_LOADED_HASH_ATTR = "_tokens_loaded_hash"
# Set by the pre_ receivers on the instance: (reason, session to keep) of the ending to repeat.
_ENDED_ATTR = "_tokens_ended"


def remember_loaded(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Remember `is_active` and the password hash as loaded, to see changes without a query."""
    _remember(instance, active=instance.__dict__.get("is_active", True))


def _remember(instance: Any, *, active: bool) -> None:
    # What the next save compares with: as loaded, then as last saved.
    instance.__dict__[_WAS_ACTIVE_ATTR] = active
    instance.__dict__[_LOADED_HASH_ATTR] = instance.__dict__.get("password")


def end_sessions_before_change(sender: Any, instance: Any, **kwargs: Any) -> None:
    """End all sessions before a password change or a deactivation is saved.

    `StoreUnavailable` propagates: the save does not happen.
    """
    if instance._state.adding:
        return
    was_active = instance.__dict__.get(_WAS_ACTIVE_ATTR, True)
    if was_active and not instance.is_active:
        reason, keep = "deactivated", None
    # AbstractBaseUser.set_password() keeps the raw password in `_password` until save() has
    # finished, so a password change is visible here whatever path made it.
    elif getattr(instance, "_password", None) is not None:
        reason, keep = "password_change", services.kept_session(instance)
    elif _password_switched_off(instance):
        reason, keep = "password_change", None
    else:
        return
    services.end_all_sessions(services.user_id_of(instance), reason=reason, keep=keep)
    instance.__dict__[_ENDED_ATTR] = (reason, keep)


def _password_switched_off(instance: Any) -> bool:
    # set_unusable_password() writes a new unusable hash without `_password`. A hash Django
    # upgrades at login changes too, but stays usable: the password is the same one.
    password = instance.__dict__.get("password")
    return (
        password is not None
        and password != instance.__dict__.get(_LOADED_HASH_ATTR)
        and not instance.has_usable_password()
    )


def end_sessions_after_change(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """Once the change is committed, end the sessions again (best-effort)."""
    _remember(instance, active=instance.is_active)
    _repeat_after_commit(instance, kwargs.get("using"))


def end_sessions_before_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    """End all sessions of a user about to be deleted; `StoreUnavailable` stops the deletion."""
    services.end_all_sessions(services.user_id_of(instance), reason="deleted")
    instance.__dict__[_ENDED_ATTR] = ("deleted", None)


def end_sessions_after_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Once the deletion is committed, end the sessions again (best-effort)."""
    _repeat_after_commit(instance, kwargs.get("using"))


def _repeat_after_commit(instance: Any, using: str | None) -> None:
    ended = instance.__dict__.pop(_ENDED_ATTR, None)
    if ended is None:
        return
    reason, keep = ended
    user_id = services.user_id_of(instance)
    # Outside a transaction the change is already written and this runs at once.
    transaction.on_commit(
        lambda: services.end_all_sessions_again(user_id, reason=reason, keep=keep),
        using=using or router.db_for_write(type(instance)),
    )


def connect() -> None:
    """Connect the receivers to the active user model."""
    user_model = get_user_model()
    post_init.connect(remember_loaded, sender=user_model, dispatch_uid="tokens.remember_loaded")
    pre_save.connect(
        end_sessions_before_change, sender=user_model, dispatch_uid="tokens.end_before_change"
    )
    post_save.connect(
        end_sessions_after_change, sender=user_model, dispatch_uid="tokens.end_after_change"
    )
    pre_delete.connect(
        end_sessions_before_delete, sender=user_model, dispatch_uid="tokens.end_before_delete"
    )
    post_delete.connect(
        end_sessions_after_delete, sender=user_model, dispatch_uid="tokens.end_after_delete"
    )
