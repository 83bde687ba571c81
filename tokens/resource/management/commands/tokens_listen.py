"""`manage.py tokens_listen`: hear the auth server's "session ended" events."""

from __future__ import annotations

import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ...events import listen


class Command(BaseCommand):
    """Subscribe to the events channel and send `tokens.resource.events.session_ended`."""

    help = (
        "Subscribe to the auth server's session-ended events and send the session_ended "
        "signal for each (see docs/sso.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Take how many events to handle before exiting (default: run until stopped)."""
        parser.add_argument("--count", type=int, default=0, help="Exit after this many events.")

    def handle(self, *args: Any, **options: Any) -> None:
        """Listen; print one line per event at verbosity 1 or more."""
        stop = threading.Event()
        remaining = [options["count"]]

        def on_event(event: dict[str, Any]) -> None:
            if options["verbosity"] >= 1:
                sessions = ",".join(event.get("session_ids", []))
                self.stdout.write(
                    f"session_ended user={event.get('user_id')} sessions={sessions} "
                    f"reason={event.get('reason')}"
                )
                self.stdout.flush()
            if remaining[0]:
                remaining[0] -= 1
                if not remaining[0]:
                    stop.set()

        ready = threading.Event()
        listener = threading.Thread(
            target=listen, args=(stop,), kwargs={"on_event": on_event, "ready": ready}
        )
        listener.start()
        ready.wait(10)
        if options["verbosity"] >= 1:
            self.stdout.write("Listening.")
            self.stdout.flush()
        try:
            listener.join()
        except KeyboardInterrupt:
            stop.set()
            listener.join()
