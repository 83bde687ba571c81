"""Helpers for tests/test_client.py: counting transports and a file-store worker process.

The transports are real httpx transports (traffic goes to the real server); they only count
requests by path, so a test can say how many refreshes crossed the wire.

Run as `python -m tests.client_helpers <api url> <token file> <seconds>` to start a worker that
sends requests through a `FileTokenStore` session for that long and prints what it saw as JSON.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter

import httpx

from tokens.client import ClientError, FileTokenStore, TokenAuth


class _Counts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.paths: Counter[str] = Counter()

    def add(self, request: httpx.Request) -> None:
        with self._lock:
            self.paths[request.url.path] += 1

    def count(self, suffix: str) -> int:
        """Return how many requests went to a path ending with `suffix`."""
        with self._lock:
            return sum(n for path, n in self.paths.items() if path.endswith(suffix))

    @property
    def refreshes(self) -> int:
        return self.count("/auth/refresh")

    @property
    def logins(self) -> int:
        return self.count("/auth/login")


class CountingTransport(httpx.HTTPTransport, _Counts):
    """An `httpx.HTTPTransport` that counts the requests it sends, by path."""

    client: httpx.Client  # the client on this transport, set by the test that makes both

    def __init__(self, **kwargs: object) -> None:
        httpx.HTTPTransport.__init__(self, **kwargs)  # type: ignore[arg-type]
        _Counts.__init__(self)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.add(request)
        return super().handle_request(request)


class AsyncCountingTransport(httpx.AsyncHTTPTransport, _Counts):
    """An `httpx.AsyncHTTPTransport` that counts the requests it sends, by path."""

    def __init__(self, **kwargs: object) -> None:
        httpx.AsyncHTTPTransport.__init__(self, **kwargs)  # type: ignore[arg-type]
        _Counts.__init__(self)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.add(request)
        return await super().handle_async_request(request)


def file_store_worker(api: str, path: str, seconds: float) -> dict[str, object]:
    """Send requests through the session in `path` for `seconds`; return what happened."""
    transport = CountingTransport()
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    with httpx.Client(transport=transport) as token_client:
        auth = TokenAuth(api, store=FileTokenStore(path), token_client=token_client)
        with httpx.Client(auth=auth, timeout=10) as client:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                try:
                    statuses[client.get(f"{api}/user/info").status_code] += 1
                except ClientError as exc:
                    errors.append(repr(exc))
                time.sleep(0.02)
    return {"statuses": statuses, "errors": errors, "refreshes": transport.refreshes}


if __name__ == "__main__":
    api_url, token_path, duration = sys.argv[1], sys.argv[2], float(sys.argv[3])
    print(json.dumps(file_store_worker(api_url, token_path, duration)))
