"""Hear the auth server's "session ended" events and turn them into a signal.

The auth server publishes a JSON message on its `TOKENS["EVENTS_CHANNEL"]` for the sessions of
a user that one step ended (`tokens.events`). `listen()` subscribes to it and, for each session,
drops it from this process's introspection cache and sends `session_ended`. Run it with
`python manage.py tokens_listen` (a process of its own), or in a thread with
`start_listener_thread()`. Pub/sub delivers only to who is listening: a message missed while no
listener runs is lost, which only means a cache is dropped later (when it expires).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from django.dispatch import Signal
from django_redis import get_redis_connection

from .conf import resource_settings
from .liveness import introspection_cache

logger = logging.getLogger("tokens.resource")

# A session ended at the auth server. Keywords: user_id, session_id, reason (the auth server's
# `tokens.signals.session_revoked` reasons), at (the time it was published, epoch seconds).
session_ended = Signal()


def handle_message(data: bytes | str) -> dict[str, Any] | None:
    """Act on one published message; return the event, or None when it is not one of ours.

    `session_ended` is sent once per session of the message.
    """
    try:
        event = json.loads(data)
    except ValueError:
        logger.warning("Ignoring a message that is not JSON on the events channel.")
        return None
    if not isinstance(event, dict) or event.get("event") != "session_ended":
        return None
    session_ids = event.get("session_ids")
    if not isinstance(session_ids, list):
        return None
    for session_id in map(str, session_ids):
        introspection_cache.forget(session_id)
        session_ended.send(
            sender=None,
            user_id=str(event.get("user_id", "")),
            session_id=session_id,
            reason=str(event.get("reason", "")),
            at=event.get("at"),
        )
    return event


def listen(
    stop: threading.Event | None = None,
    *,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    ready: threading.Event | None = None,
) -> None:
    """Subscribe to the events channel and handle its messages until `stop` is set.

    `ready` is set once the subscription is first in place. A lost connection to Redis is
    logged and subscribed again a second later (events published meanwhile are missed).
    """
    while stop is None or not stop.is_set():
        try:
            _subscribed(stop, on_event, ready)
        except redis.exceptions.RedisError as exc:
            logger.warning("Events subscription lost (%s); subscribing again.", exc)
            time.sleep(1)


def _subscribed(
    stop: threading.Event | None,
    on_event: Callable[[dict[str, Any]], None] | None,
    ready: threading.Event | None,
) -> None:
    alias = resource_settings.EVENTS_CACHE_ALIAS or resource_settings.CACHE_ALIAS
    pubsub = get_redis_connection(alias).pubsub()
    try:
        pubsub.subscribe(resource_settings.EVENTS_CHANNEL)
        # In place once the server confirms it (its first reply).
        while (stop is None or not stop.is_set()) and not _confirmed(
            pubsub.get_message(timeout=1.0)
        ):
            pass
        if ready is not None:
            ready.set()
        while stop is None or not stop.is_set():
            message = pubsub.get_message(timeout=1.0)
            if message is None or message.get("type") != "message":
                continue
            event = handle_message(message["data"])
            if event is not None and on_event is not None:
                on_event(event)
    finally:
        pubsub.close()


def _confirmed(message: dict[str, Any] | None) -> bool:
    return message is not None and message.get("type") == "subscribe"


def start_listener_thread() -> threading.Thread:
    """Listen in a daemon thread of this process (for example from `AppConfig.ready()`)."""
    thread = threading.Thread(target=listen, name="tokens-events", daemon=True)
    thread.start()
    return thread
