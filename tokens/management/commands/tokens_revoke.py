"""`manage.py tokens_revoke USERNAME [--session=ID]`: end one or all of a user's sessions.

Write `--session=ID` with the equals sign: a session id made by an earlier version may start
with "-", which `--session -abc` would read as another option (new ids never do).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import services
from ...errors import SessionNotFound, StoreUnavailable
from ._users import find_user


class Command(BaseCommand):
    """End every session of a user, or just the one named by --session."""

    help = "End every live session of a user, or only the one given with --session."

    def add_arguments(self, parser: CommandParser) -> None:
        """Take the username and an optional session id."""
        parser.add_argument("username", help="The user whose sessions to end.")
        parser.add_argument(
            "--session",
            metavar="ID",
            help="End only this session (see `tokens_sessions USERNAME` for the ids). Write "
            "--session=ID: an id that starts with '-' needs the '='.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """End the session(s) through `tokens.services` and say what was ended."""
        user = find_user(options["username"])
        session_id = options["session"]
        try:
            if session_id:
                services.end_user_session(user, session_id, reason="admin")
                self.stdout.write(f"Ended session {session_id} of {user}.")
                return
            ended = services.end_all_sessions(services.user_id_of(user), reason="admin")
        except SessionNotFound as exc:
            raise CommandError(f"{user} has no live session {session_id!r}.") from exc
        except StoreUnavailable as exc:
            raise CommandError(f"The session store is unavailable: {exc}") from exc
        noun = "session" if len(ended) == 1 else "sessions"
        self.stdout.write(f"Ended {len(ended)} {noun} of {user}.")
