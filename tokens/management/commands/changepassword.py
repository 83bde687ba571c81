"""`manage.py changepassword`: Django's command, with a store outage reported as an error.

A password change first ends the user's sessions (`tokens.receivers`); with the session store
down that fails and the password is not changed. Django's command would show a traceback; this
one says what happened. It replaces `django.contrib.auth`'s command when `tokens` is listed
before `django.contrib.auth` in `INSTALLED_APPS` (as for any overridden command).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.management.commands import changepassword
from django.core.management.base import CommandError

from ...errors import StoreUnavailable


class Command(changepassword.Command):
    """Django's `changepassword`; an unavailable session store is a `CommandError`."""

    def handle(self, *args: Any, **options: Any) -> str:
        """Change the password as Django does, or say why it was left unchanged."""
        try:
            return str(super().handle(*args, **options))
        except StoreUnavailable as exc:
            raise CommandError(
                "The session store is unavailable, so the user's sessions could not be ended: "
                f"the password was not changed. Try again shortly. ({exc})"
            ) from exc
