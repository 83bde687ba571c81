"""The resource side's JWK Set cache against a real JWKS server on loopback that can hang or fail.

A slow or unreachable JWKS URL must never make the service's requests wait for each other: a
known kid is answered from the cache at once while one fetch, and only one, runs in the
background; a failed fetch keeps the cached keys; made-up kids do not start a fetch each.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from rest_framework.test import APIRequestFactory

from tests.conftest import login
from tests.test_sso import kid_of, sign_with
from tokens.resource.authentication import ResourceTokenAuthentication
from tokens.resource.jwks import jwks_cache

# Long enough that a test which waits on the fetch never sees it time out: the JWKS server
# holds its answer until the test releases it.
HTTP_TIMEOUT = 60.0
# How long a test waits for threads that should not be waiting at all: a guard against a hang
# (the old behaviour), not a measure of speed.
HANG_GUARD = 20.0


class JWKSServer:
    """A JWK Set served on loopback; `mode` "serve", "hang" (until released) or "fail" (500)."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.mode = "serve"
        self.requests = 0
        self.hanging = threading.Event()  # set when a request is being held
        self.release = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.requests += 1
                    mode = server.mode
                if mode == "hang":
                    server.hanging.set()
                    server.release.wait()
                if mode == "fail":
                    self.send_response(500)
                    self.end_headers()
                    return
                body = json.dumps(server.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/auth/jwks"
        # shutdown() waits for serve_forever() to poll again: at its default of 0.5 s, half a
        # second per test.
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def key() -> Any:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def jwks(api: Any, settings: Any, key: Any) -> Iterator[JWKSServer]:
    """The site signs with `key`; the resource side fetches the site's JWK Set from loopback."""
    sign_with(settings, key)
    server = JWKSServer(api.get("/api/auth/jwks").json())
    settings.TOKENS_RESOURCE = {
        "JWKS_URL": server.url,
        # The test client's origin: the site's tokens name it as their issuer.
        "ISSUER": "http://testserver",
        "HTTP_TIMEOUT": HTTP_TIMEOUT,
        "LIVENESS": "store",
        "CACHE_ALIAS": settings.TOKENS.get("CACHE_ALIAS", "default"),
        "KEY_PREFIX": settings.TOKENS.get("KEY_PREFIX", "tokens"),
    }
    jwks_cache.clear()
    yield server
    server.stop()
    jwks_cache.clear()


def authenticate(token: str) -> Any:
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {token}")
    return ResourceTokenAuthentication().authenticate(request)


def run_concurrently(count: int, work: Any) -> tuple[list[Any], threading.Event]:
    """Start `count` threads running `work()`; return their results list and an all-done event."""
    results: list[Any] = []
    lock = threading.Lock()
    done = threading.Event()

    def one() -> None:
        try:
            outcome: Any = work()
        except Exception as exc:  # the test reports what each thread met
            outcome = exc
        with lock:
            results.append(outcome)
            if len(results) == count:
                done.set()

    for _ in range(count):
        threading.Thread(target=one, daemon=True).start()
    return results, done


@pytest.mark.redis_store
def test_a_stale_set_is_served_at_once_while_one_fetch_hangs_in_the_background(
    jwks: JWKSServer, user: Any, api: Any, settings: Any, key: Any
) -> None:
    token = login(api)["access_token"]
    assert authenticate(token)[0].id == str(user.pk)  # the set is fetched and cached
    assert jwks.requests == 1
    # From now on the cached set is stale, and the JWKS URL holds every request.
    # No pause between fetches either: only "one fetch at a time" holds them back.
    settings.TOKENS_RESOURCE = {
        **settings.TOKENS_RESOURCE,
        "JWKS_CACHE_SECONDS": 0,
        "JWKS_MIN_REFETCH_SECONDS": 0,
    }
    jwks.mode = "hang"

    results, done = run_concurrently(8, lambda: authenticate(token))

    # All eight are answered while the fetch is still held by the server.
    assert done.wait(HANG_GUARD), f"only {len(results)} of 8 answered while the fetch hung"
    assert not jwks.release.is_set()
    assert [outcome[0].id for outcome in results] == [str(user.pk)] * 8
    # One fetch, and only one, was started for them.
    assert jwks.hanging.wait(HANG_GUARD)
    assert jwks.requests == 2
    jwks.release.set()


@pytest.mark.redis_store
def test_a_failed_fetch_keeps_the_cached_keys(
    jwks: JWKSServer, user: Any, api: Any, settings: Any
) -> None:
    token = login(api)["access_token"]
    assert authenticate(token)[0].id == str(user.pk)
    settings.TOKENS_RESOURCE = {
        **settings.TOKENS_RESOURCE,
        "JWKS_CACHE_SECONDS": 0,
        "JWKS_MIN_REFETCH_SECONDS": 0,
    }
    jwks.mode = "fail"
    for _ in range(3):
        # Served from the stale set; a fetch starts in the background and fails.
        assert authenticate(token)[0].id == str(user.pk)
        # A made-up kid waits for that fetch (or makes its own): the failure is behind us.
        assert jwks_cache.key_for("made-up") is None
    assert jwks.requests >= 4  # it did try again each time, and failed
    assert authenticate(token)[0].id == str(user.pk)


def test_made_up_kids_start_one_fetch_and_wait_for_it_without_blocking_known_kids(
    jwks: JWKSServer, key: Any, settings: Any
) -> None:
    known = kid_of(key, "ES256")
    assert jwks_cache.key_for(known) is not None
    jwks.mode = "hang"
    # A fresh set: only an unknown kid fetches. No pause between fetches: only "one fetch at a
    # time" holds the made-up kids back.
    settings.TOKENS_RESOURCE = {**settings.TOKENS_RESOURCE, "JWKS_MIN_REFETCH_SECONDS": 0}
    strangers, strangers_done = run_concurrently(
        8, lambda: jwks_cache.key_for(f"made-up-{threading.get_ident()}")
    )
    assert jwks.hanging.wait(HANG_GUARD)
    # From now on the pause between fetches holds: a made-up kid that comes after the fetch
    # (a thread scheduled late) fetches nothing either.
    settings.TOKENS_RESOURCE = {**settings.TOKENS_RESOURCE, "JWKS_MIN_REFETCH_SECONDS": 300}
    # A known kid is answered while the made-up ones wait for the one fetch.
    knowns, knowns_done = run_concurrently(8, lambda: jwks_cache.key_for(known))
    assert knowns_done.wait(HANG_GUARD)
    assert all(found is not None and found.key_id == known for found in knowns)
    assert not strangers_done.is_set()
    jwks.release.set()
    assert strangers_done.wait(HANG_GUARD)
    assert strangers == [None] * 8
    assert jwks.requests == 2
    # Another made-up kid fetches nothing.
    assert jwks_cache.key_for("made-up-again") is None
    assert jwks.requests == 2


def test_with_nothing_cached_an_unreachable_set_is_unavailable(settings: Any) -> None:
    from tokens.resource.jwks import KeysUnavailable

    settings.TOKENS_RESOURCE = {"JWKS_URL": "http://127.0.0.1:9/jwks", "HTTP_TIMEOUT": 2.0}
    jwks_cache.clear()
    try:
        with pytest.raises(KeysUnavailable):
            jwks_cache.key_for("any")
        # And it does not try again at once for the next request.
        with pytest.raises(KeysUnavailable):
            jwks_cache.key_for("any")
    finally:
        jwks_cache.clear()


def test_a_token_is_still_verified_with_the_key_s_own_algorithm(
    jwks: JWKSServer, user: Any, api: Any
) -> None:
    # The cache hands back PyJWK objects bound to their algorithm, as before.
    token = login(api)["access_token"]
    kid = jwt.get_unverified_header(token)["kid"]
    found = jwks_cache.key_for(kid)
    assert found is not None and found.algorithm_name == "ES256"
