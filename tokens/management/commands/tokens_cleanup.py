"""`manage.py tokens_cleanup`: delete the database store's expired rows, in batches.

Expired sessions already count as ended everywhere (every query compares `expires_at`); this
only reclaims their rows. Schedule it hourly or daily (cron, a systemd timer, Celery beat): the
table then holds at most the sessions that expired since the last run, on top of the live ones.
With the Redis store there is nothing to do: Redis expires its own keys.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import InterfaceError, OperationalError, router

from ...conf import tokens_settings
from ...models import SessionOwner, StoredSession


class Command(BaseCommand):
    """Delete expired sessions of the database store, a batch at a time."""

    help = "Delete the database store's expired sessions, in batches (schedule it hourly or daily)."

    def add_arguments(self, parser: CommandParser) -> None:
        """Take the batch size."""
        parser.add_argument(
            "--batch-size",
            type=int,
            default=1000,
            help="Rows deleted per statement (default 1000): each batch is a short transaction.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Delete expired session rows, then owner rows that no longer matter; say how many."""
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        alias = router.db_for_write(StoredSession)
        now = time.time()
        try:
            sessions = _delete_in_batches(
                StoredSession._default_manager.using(alias).filter(expires_at__lte=now),
                batch_size,
            )
            # An owner row only matters to a login that started before its time and is still
            # in flight, or to a user with sessions; a session's whole life is far longer.
            stale = now - tokens_settings.max_age_seconds
            owners = _delete_in_batches(
                SessionOwner._default_manager.using(alias)
                .filter(ended_before__lt=stale)
                .exclude(user_id__in=StoredSession._default_manager.using(alias).values("user_id")),
                batch_size,
            )
        except (OperationalError, InterfaceError) as exc:
            raise CommandError(f"The session store's database is unavailable: {exc}") from exc
        self.stdout.write(f"Deleted {sessions} expired sessions and {owners} idle owner rows.")


def _delete_in_batches(queryset: Any, batch_size: int) -> int:
    """Delete the rows of `queryset`, `batch_size` at a time; return how many were deleted."""
    total = 0
    while True:
        batch = list(queryset.values_list("pk", flat=True)[:batch_size])
        if not batch:
            return total
        deleted, _ = queryset.filter(pk__in=batch).delete()
        total += deleted
