"""The "session ended" event, published on a Redis channel for the site's other services.

Every ended session (logout, revoke, reuse, eviction, a password change, an admin's action: all
that send `tokens.signals.session_revoked`) is published on `TOKENS["EVENTS_CHANNEL"]` as JSON,
one message for the sessions of one user that one step ended (a logout everywhere is one
message, whatever the number of sessions):

    {"event": "session_ended", "user_id": "42", "session_ids": ["..."], "reason": "logout",
     "at": 1796039391.25}

It is a hint for dropping caches (`tokens.resource` turns it into a signal), never the truth:
the store is. So publishing is best-effort: a failure is logged and the revocation stands. It
costs one Redis round trip where a session ends, none on a refresh or an authenticated request.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable

from django_redis import get_redis_connection

from .conf import tokens_settings

logger = logging.getLogger("tokens.events")

SESSION_ENDED = "session_ended"


def session_ended_payload(user_id: str, session_ids: list[str], reason: str) -> str:
    """Return the JSON message of sessions of one user that ended together."""
    return json.dumps(
        {
            "event": SESSION_ENDED,
            "user_id": str(user_id),
            "session_ids": list(session_ids),
            "reason": reason,
            "at": time.time(),
        },
        separators=(",", ":"),
    )


def publish_sessions_ended(user_id: str, session_ids: Iterable[str], reason: str) -> None:
    """Publish that sessions of a user ended, in one message; log, never raise, on failure."""
    channel = tokens_settings.EVENTS_CHANNEL
    ended = list(session_ids)
    if not channel or not ended:
        return
    alias = tokens_settings.EVENTS_CACHE_ALIAS or tokens_settings.CACHE_ALIAS
    try:
        client = get_redis_connection(alias)
    except NotImplementedError:
        # Not a django-redis cache (a database-store site without Redis): nowhere to publish.
        logger.debug("Cache %r is not a Redis cache: session-ended events are off.", alias)
        return
    try:
        client.publish(channel, session_ended_payload(user_id, ended, reason))
    except Exception:
        # The sessions have ended in the store already; only the other services' early notice
        # is lost (they see the session gone on their next check).
        logger.warning(
            "Could not publish the end of session(s) %s of user %s.",
            ", ".join(ended),
            user_id,
            exc_info=True,
        )
