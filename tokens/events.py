"""The "session ended" event, published on a Redis channel for the site's other services.

Every ended session (logout, revoke, reuse, eviction, a password change, an admin's action: all
that send `tokens.signals.session_revoked`) is published on `TOKENS["EVENTS_CHANNEL"]` as JSON:

    {"event": "session_ended", "user_id": "42", "session_id": "...", "reason": "logout",
     "at": 1796039391.25}

It is a hint for dropping caches (`tokens.resource` turns it into a signal), never the truth:
the store is. So publishing is best-effort: a failure is logged and the revocation stands. It
costs one Redis round trip where a session ends, none on a refresh or an authenticated request.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from django_redis import get_redis_connection

from . import signals
from .conf import tokens_settings

logger = logging.getLogger("tokens.events")

SESSION_ENDED = "session_ended"


def session_ended_payload(user_id: str, session_id: str, reason: str) -> str:
    """Return the JSON message of one ended session."""
    return json.dumps(
        {
            "event": SESSION_ENDED,
            "user_id": str(user_id),
            "session_id": session_id,
            "reason": reason,
            "at": time.time(),
        },
        separators=(",", ":"),
    )


def publish_session_ended(user_id: str, session_id: str, reason: str) -> None:
    """Publish that a session ended; log, never raise, when it cannot be published."""
    channel = tokens_settings.EVENTS_CHANNEL
    if not channel:
        return
    try:
        alias = tokens_settings.EVENTS_CACHE_ALIAS or tokens_settings.CACHE_ALIAS
        get_redis_connection(alias).publish(
            channel, session_ended_payload(user_id, session_id, reason)
        )
    except Exception:
        # The session has ended in the store already; only the other services' early notice
        # is lost (they see the session gone on their next check).
        logger.warning(
            "Could not publish the end of session %s of user %s.",
            session_id,
            user_id,
            exc_info=True,
        )


def _on_session_revoked(
    sender: Any, *, user_id: str, session_id: str, reason: str, **kwargs: Any
) -> None:
    publish_session_ended(user_id, session_id, reason)


def connect() -> None:
    """Publish every ended session (called from `TokensConfig.ready()`)."""
    signals.session_revoked.connect(_on_session_revoked, dispatch_uid="tokens.events.publish")
