"""An httpx client whose cookies follow a browser's rules, for tests of the refresh cookie.

httpx keeps a client's cookies in a standard-library `CookieJar`, but copies them into a jar of
the default policy for every request, and that policy never sends a Secure cookie over plain
HTTP. Browsers treat 127.0.0.1 as a secure origin and do send them there; a test server with
DEBUG off sets Secure cookies. `BrowserCookieClient` keeps its own jar with that one rule
relaxed and applies it to each request itself: the path rules (RFC 6265 5.1.4), expiry and
deletion stay the standard library's, so a cookie of the wrong path is really not sent.
"""

from __future__ import annotations

from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx


class BrowserCookieClient:
    """Send requests to one server, keeping its cookies as a browser on 127.0.0.1 would."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10)
        policy = DefaultCookiePolicy(secure_protocols=("https", "wss", "http"))
        self.cookies = httpx.Cookies(CookieJar(policy))

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send a request with the cookies that apply to its URL; keep what the response sets."""
        request = self.http.build_request(method, url, **kwargs)
        self.cookies.set_cookie_header(request)
        response = self.http.send(request)
        self.cookies.extract_cookies(response)
        return response

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def cookie(self, name: str) -> str | None:
        """Return the value of the cookie `name`, whatever its path, or None."""
        return next((c.value for c in self.cookies.jar if c.name == name), None)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> BrowserCookieClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
