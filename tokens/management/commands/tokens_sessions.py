"""`manage.py tokens_sessions USERNAME`: list a user's live sessions."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import services
from ...display import device_label, moment_text
from ...errors import StoreUnavailable
from ._users import find_user


class Command(BaseCommand):
    """List a user's live sessions, newest first."""

    help = "List a user's live sessions, newest first."

    def add_arguments(self, parser: CommandParser) -> None:
        """Take the username."""
        parser.add_argument("username", help="The user whose sessions to list.")

    def handle(self, *args: Any, **options: Any) -> None:
        """Print one line per live session, or say there are none."""
        user = find_user(options["username"])
        try:
            sessions = services.list_sessions(user)
        except StoreUnavailable as exc:
            raise CommandError(f"The session store is unavailable: {exc}") from exc
        if not sessions:
            self.stdout.write(f"{user} has no live sessions.")
            return
        header = ("SESSION", "DEVICE", "IP", "STARTED", "LAST REFRESHED", "EXPIRES")
        rows = [
            (
                record.session_id,
                device_label(record.user_agent),
                record.ip or "-",
                moment_text(record.created_at),
                moment_text(record.last_used_at),
                moment_text(record.expires_at),
            )
            for record in sessions
        ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            self.stdout.write(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )
