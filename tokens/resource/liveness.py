"""Whether an access token's session is still live: in the shared store, or by introspection."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx
from django_redis import get_redis_connection

from ..stores.redis import RedisStore
from .conf import resource_settings

logger = logging.getLogger("tokens.resource")


class LivenessUnavailable(Exception):
    """Neither the store nor the introspection endpoint could answer."""


class SharedRedisStore(RedisStore):
    """The auth server's Redis store, read through this service's `TOKENS_RESOURCE` settings.

    Only `is_live()` is used: the same one-command read of a session the auth server makes.
    """

    @property
    def redis(self) -> Any:
        """Return the client of `TOKENS_RESOURCE["CACHE_ALIAS"]`."""
        return get_redis_connection(resource_settings.CACHE_ALIAS)

    def user_key(self, user_id: str) -> str:
        """Return the key of the user's session hash, under the auth server's prefix."""
        return f"{resource_settings.KEY_PREFIX}:{{u:{user_id}}}"


class IntrospectionCache:
    """RFC 7662 answers per session, kept `INTROSPECTION_CACHE_SECONDS` (bounded in size)."""

    max_entries = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[str, tuple[bool, float]] = {}

    def get(self, session_id: str) -> bool | None:
        """Return the cached answer for a session, or None when there is none or it is old."""
        with self._lock:
            entry = self._answers.get(session_id)
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]

    def put(self, session_id: str, live: bool) -> None:
        """Remember an answer for the cache time."""
        until = time.monotonic() + float(resource_settings.INTROSPECTION_CACHE_SECONDS)
        with self._lock:
            if len(self._answers) >= self.max_entries:
                now = time.monotonic()
                self._answers = {k: v for k, v in self._answers.items() if v[1] > now}
                while len(self._answers) >= self.max_entries:
                    self._answers.pop(next(iter(self._answers)))
            self._answers[session_id] = (live, until)

    def forget(self, session_id: str) -> None:
        """Drop a session's answer (its session ended: the next request asks again)."""
        with self._lock:
            self._answers.pop(session_id, None)


introspection_cache = IntrospectionCache()
_store = SharedRedisStore()


def session_is_live(raw_token: str, user_id: str, session_id: str) -> bool:
    """Return whether the token's session is live, as `TOKENS_RESOURCE["LIVENESS"]` says to ask.

    Raise `tokens.exceptions.StoreUnavailable` (store) or `LivenessUnavailable`
    (introspection) when the answer cannot be had.
    """
    mode = resource_settings.LIVENESS
    if mode == "store":
        return _store.is_live(user_id, session_id, time.time())
    if mode == "introspection":
        cached = introspection_cache.get(session_id)
        if cached is not None:
            return cached
        live = _introspect(raw_token, session_id)
        introspection_cache.put(session_id, live)
        return live
    raise LivenessUnavailable(f'Unknown TOKENS_RESOURCE["LIVENESS"] {mode!r}')


def _introspect(raw_token: str, session_id: str) -> bool:
    try:
        response = httpx.post(
            resource_settings.required("INTROSPECTION_URL"),
            data={"token": raw_token, "token_type_hint": "access_token"},
            auth=(
                resource_settings.required("CLIENT_ID"),
                resource_settings.required("CLIENT_SECRET"),
            ),
            timeout=float(resource_settings.HTTP_TIMEOUT),
        )
        response.raise_for_status()
        answer = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        logger.warning("Introspection failed: %s", exc)
        raise LivenessUnavailable(str(exc)) from exc
    return (
        isinstance(answer, dict)
        and answer.get("active") is True
        and answer.get("sid") == session_id
    )
