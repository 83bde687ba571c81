"""The auth server's verifying keys, fetched from its JWKS URL and cached per process."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx
from jwt import PyJWK
from jwt.exceptions import PyJWKError

from .conf import resource_settings

logger = logging.getLogger("tokens.resource")

_NEVER = -float("inf")


class KeysUnavailable(Exception):
    """The JWK Set could not be fetched and no copy of it is cached."""


class JWKSCache:
    """The JWK Set of `TOKENS_RESOURCE["JWKS_URL"]`, fetched with a timeout and cached.

    The lock guards the cache's state only and is never held across a fetch, so a slow or
    unreachable JWKS URL never makes one request wait for another:

    - a known kid is answered from the cache at once, fresh or stale; a stale set is fetched
      again in a background thread;
    - a kid the cached set lacks (a key the auth server has just started to sign with) is
      fetched by the request that meets it, and the requests that meet an unknown kid meanwhile
      wait for that same fetch instead of starting their own;
    - at most one fetch runs at a time, and a new one starts at most once per
      `JWKS_MIN_REFETCH_SECONDS`, whatever asks for it (stale set, made-up kids);
    - a failed fetch keeps the cached keys; only with none cached yet is it `KeysUnavailable`.

    Only keys with a `kid` and an asymmetric type are kept: a symmetric (`oct`) key in a JWK Set
    would let anyone who reads it sign tokens, so it is never used.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Notified whenever a fetch ends, for the requests waiting on it.
        self._fetch_ended = threading.Condition(self._lock)
        self._keys: dict[str, PyJWK] = {}
        self._url: str | None = None
        self._fetched_at = _NEVER
        self._attempted_at = _NEVER
        self._fetching = False
        self._last_error = ""

    def key_for(self, kid: str) -> PyJWK | None:
        """Return the verifying key with this kid, fetching the set when needed; None if none.

        Raise `KeysUnavailable` when the set cannot be fetched and nothing is cached.
        """
        url = resource_settings.required("JWKS_URL")
        with self._lock:
            if url != self._url:
                self._reset(url)
            waited = False
            while True:
                now = time.monotonic()
                key = self._keys.get(kid)
                due = not self._fetching and now - self._attempted_at >= float(
                    resource_settings.JWKS_MIN_REFETCH_SECONDS
                )
                if key is not None:
                    stale = now - self._fetched_at >= float(resource_settings.JWKS_CACHE_SECONDS)
                    if stale and due:
                        self._begin_fetch(now)
                        threading.Thread(
                            target=self._fetch_and_keep,
                            args=(url,),
                            name="tokens-jwks",
                            daemon=True,
                        ).start()
                    return key
                if self._fetching and not waited:
                    # Someone is fetching already: its answer is the one this kid needs. The
                    # fetch is bounded by HTTP_TIMEOUT; the wait, by a little more.
                    self._fetch_ended.wait(float(resource_settings.HTTP_TIMEOUT) + 1.0)
                    waited = True
                    continue
                if not due or waited:
                    self._check_fetched()
                    return None
                self._begin_fetch(now)
                break
        # This request fetches, outside the lock: other kids are answered meanwhile.
        self._fetch_and_keep(url)
        with self._lock:
            self._check_fetched()
            return self._keys.get(kid)

    def clear(self) -> None:
        """Forget the cached keys (the next token fetches them)."""
        with self._lock:
            self._reset(None)

    def _reset(self, url: str | None) -> None:
        self._keys, self._url = {}, url
        self._fetched_at = self._attempted_at = _NEVER
        self._last_error = ""

    def _begin_fetch(self, now: float) -> None:
        self._fetching = True
        self._attempted_at = now

    def _check_fetched(self) -> None:
        """Raise `KeysUnavailable` if no JWK Set was ever fetched (a kid is unknown, or none is)."""
        if self._fetched_at == _NEVER:
            raise KeysUnavailable(self._last_error or "the JWK Set has not been fetched")

    def _fetch_and_keep(self, url: str) -> None:
        keys: dict[str, PyJWK] | None = None
        error = ""
        try:
            keys = _fetch(url)
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("Could not fetch the JWK Set at %s: %s", url, exc)
            error = str(exc) or type(exc).__name__
        finally:
            with self._lock:
                self._fetching = False
                # A URL changed (settings) while fetching: this answer is not its keys.
                if url == self._url:
                    if keys is not None:
                        self._keys, self._fetched_at = keys, time.monotonic()
                    else:
                        self._last_error = error
                self._fetch_ended.notify_all()


def _fetch(url: str) -> dict[str, PyJWK]:
    response = httpx.get(url, timeout=float(resource_settings.HTTP_TIMEOUT))
    response.raise_for_status()
    document: Any = response.json()
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK Set")
    keys: dict[str, PyJWK] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
            continue
        if jwk.get("kty") not in ("RSA", "EC", "OKP") or jwk.get("use", "sig") != "sig":
            continue
        try:
            keys[jwk["kid"]] = PyJWK(jwk)
        except PyJWKError as exc:
            logger.warning("Ignoring an unusable key %r of the JWK Set: %s", jwk.get("kid"), exc)
    return keys


jwks_cache = JWKSCache()
