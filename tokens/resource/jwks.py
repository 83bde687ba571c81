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


class KeysUnavailable(Exception):
    """The JWK Set could not be fetched and no copy of it is cached."""


class JWKSCache:
    """The JWK Set of `TOKENS_RESOURCE["JWKS_URL"]`, fetched with a timeout and cached.

    A kid the cached set lacks fetches it again (a key the auth server has just started to sign
    with), at most once per `JWKS_MIN_REFETCH_SECONDS`. A failed fetch keeps the cached keys.
    Only keys with a `kid` and an asymmetric type are kept: a symmetric (`oct`) key in a JWK Set
    would let anyone who reads it sign tokens, so it is never used.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, PyJWK] = {}
        self._url: str | None = None
        self._fetched_at = -float("inf")
        self._attempted_at = -float("inf")

    def key_for(self, kid: str) -> PyJWK | None:
        """Return the verifying key with this kid, fetching the set when needed; None if none.

        Raise `KeysUnavailable` when the set cannot be fetched and nothing is cached.
        """
        url = resource_settings.required("JWKS_URL")
        with self._lock:
            now = time.monotonic()
            if url != self._url:
                self._keys, self._url = {}, url
                self._fetched_at = self._attempted_at = -float("inf")
            fresh = now - self._fetched_at < float(resource_settings.JWKS_CACHE_SECONDS)
            key = self._keys.get(kid)
            if key is not None and fresh:
                return key
            interval = float(resource_settings.JWKS_MIN_REFETCH_SECONDS)
            if fresh and now - self._attempted_at < interval:
                return key
            self._attempted_at = now
            try:
                self._keys = _fetch(url)
                self._fetched_at = time.monotonic()
            except (httpx.HTTPError, ValueError) as exc:
                logger.warning("Could not fetch the JWK Set at %s: %s", url, exc)
                if not self._keys:
                    raise KeysUnavailable(str(exc)) from exc
            return self._keys.get(kid)

    def clear(self) -> None:
        """Forget the cached keys (the next token fetches them)."""
        with self._lock:
            self._keys, self._url = {}, None


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
