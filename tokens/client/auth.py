"""`TokenAuth`: an `httpx.Auth` that logs in, attaches the bearer token and refreshes it, once.

The refresh is single-flight per token store: of all the threads and tasks that find the access
token expiring (or get a 401 for it), one calls `/auth/refresh`; the others wait for it and use
its result, or raise its error.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from typing import Any, Literal

import httpx

from .errors import AuthUnavailable, ClientError, LoginFailed, SessionExpired
from .stores import MemoryTokenStore, Tokens, TokenStore

# Refresh this long before the access token expires, at most: a quarter of the lifetime when
# that is shorter, so a short-lived token is not refreshed on every request.
DEFAULT_REFRESH_MARGIN = 30.0

_LOGIN: Literal["login"] = "login"


class TokenAuth(httpx.Auth):
    """Authenticate httpx requests to a django-tokens API, refreshing the tokens unseen.

    Works with `httpx.Client` and `httpx.AsyncClient`; one instance may serve many of both.

    `base_url` is the API root under which `/auth/login`, `/auth/refresh` and `/auth/logout`
    live, e.g. `http://127.0.0.1:8000/api`. The bearer token is only sent to that origin.
    Start the session with `username` and `password` (the first request logs in), with `tokens`
    (a login response body or a `Tokens`), with a bare `refresh_token`, or with a `store` that
    already holds a pair (a `FileTokenStore` written by an earlier run).

    The access token is refreshed `refresh_margin` seconds before it expires (default: 30 s or a
    quarter of its lifetime, whichever is shorter) and after a 401; a 401 for a request sent
    with a token that has since been replaced is replayed with the current one. A request is
    retried at most once, and only when its body is in memory: a streaming body is not replayed,
    its 401 is returned (and the next request uses the refreshed token).

    Errors: `SessionExpired` when the server refuses the refresh token (every caller waiting on
    that refresh raises it; `on_session_expired` runs once); `AuthUnavailable` on network errors
    and 5xx from the token endpoints, which keep the tokens; `LoginFailed` for bad credentials.
    After a session ends, requests raise `SessionExpired` until `login()` starts a new one.

    `on_tokens_updated(tokens)` runs under the refresh lock after every login and refresh, and
    with None when the session ends; it must not send requests through this auth. Calls to the
    token endpoints go through `token_client` / `async_token_client` when given (for proxies,
    certificates or transports), else through clients of the auth's own with `timeout`.
    """

    def __init__(
        self,
        base_url: str | httpx.URL,
        *,
        username: str | None = None,
        password: str | None = None,
        tokens: Tokens | Mapping[str, Any] | None = None,
        refresh_token: str | None = None,
        store: TokenStore | None = None,
        refresh_margin: float | None = None,
        on_session_expired: Callable[[SessionExpired], object] | None = None,
        on_tokens_updated: Callable[[Tokens | None], object] | None = None,
        token_client: httpx.Client | None = None,
        async_token_client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("Pass both username and password, or neither.")
        if tokens is not None and refresh_token is not None:
            raise ValueError("Pass tokens or refresh_token, not both.")
        if refresh_margin is not None and refresh_margin < 0:
            raise ValueError("refresh_margin must not be negative.")
        self.base_url = httpx.URL(str(base_url).rstrip("/") + "/")
        self.login_url = self.base_url.join("auth/login")
        self.refresh_url = self.base_url.join("auth/refresh")
        self.logout_url = self.base_url.join("auth/logout")
        self.store = store if store is not None else MemoryTokenStore()
        self.refresh_margin = refresh_margin
        self.on_session_expired = on_session_expired
        self.on_tokens_updated = on_tokens_updated
        self.timeout = timeout
        self._username = username
        self._password = password
        self._token_client = token_client
        self._owns_token_client = False
        self._async_token_client = async_token_client
        if tokens is not None:
            if not isinstance(tokens, Tokens):
                tokens = Tokens.from_response(tokens)
            self.store.save(tokens)
        elif refresh_token is not None:
            # No access token yet: an already expired one makes the first request refresh.
            self.store.save(Tokens("", refresh_token, 0.0, 0.0))

    # --- httpx.Auth --------------------------------------------------------------------------

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Send the request with a fresh token; after a 401, refresh once and replay it once."""
        if not self._ours(request):
            yield request
            return
        tokens = self._tokens_sync(rejected=None)
        self._authorize(request, tokens)
        response = yield request
        if response.status_code != 401:
            return
        # Free the connection before waiting for the refresh lock.
        response.read()
        tokens = self._tokens_sync(rejected=tokens.access_token)
        if _replayable(request):
            self._authorize(request, tokens)
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Send the request with a fresh token; after a 401, refresh once and replay it once."""
        if not self._ours(request):
            yield request
            return
        tokens = await self._tokens_async(rejected=None)
        self._authorize(request, tokens)
        response = yield request
        if response.status_code != 401:
            return
        await response.aread()
        tokens = await self._tokens_async(rejected=tokens.access_token)
        if _replayable(request):
            self._authorize(request, tokens)
            yield request

    # --- Session control ---------------------------------------------------------------------

    def login(self, username: str | None = None, password: str | None = None) -> Tokens:
        """Log in (with these credentials, remembered, or the ones given at construction)."""
        payload = self._credentials(username, password)
        with self.store.lock():
            return self._succeed(self._post_sync("login", self.login_url, payload))

    async def alogin(self, username: str | None = None, password: str | None = None) -> Tokens:
        """Log in without blocking the event loop; see `login()`."""
        payload = self._credentials(username, password)
        async with self.store.alock():
            return self._succeed(await self._post_async("login", self.login_url, payload))

    def logout(self) -> None:
        """End the session on the server and clear the store.

        Raise `AuthUnavailable` (keeping the tokens, so you can retry) when the server cannot
        be reached; a session the server already ended is cleared without error.
        """
        with self.store.lock():
            tokens = self.store.load()
            if tokens is not None:
                self._check_logout(self._send_logout_sync(tokens))
            self._end()
            self.store.failure = None

    async def alogout(self) -> None:
        """End the session on the server and clear the store; see `logout()`."""
        async with self.store.alock():
            tokens = self.store.load()
            if tokens is not None:
                self._check_logout(await self._send_logout_async(tokens))
            self._end()
            self.store.failure = None

    def close(self) -> None:
        """Close the HTTP client this auth created for the token endpoints, if any."""
        if self._owns_token_client and self._token_client is not None:
            self._token_client.close()
            self._token_client = None
            self._owns_token_client = False

    # --- Single flight -----------------------------------------------------------------------

    def _tokens_sync(self, rejected: str | None) -> Tokens:
        """Return tokens to send; refresh or log in first if needed, once across threads.

        `rejected` is the access token a 401 answered, if this is the retry of such a request.
        """
        if rejected is None:
            tokens = self.store.load()
            if tokens is not None and not self._due(tokens):
                return tokens
        flight = self.store.flight
        try:
            with self.store.lock():
                action = self._decide(flight, rejected)
                if isinstance(action, Tokens):
                    return action
                if action == _LOGIN:
                    fresh = self._post_sync("login", self.login_url, self._credentials())
                else:
                    fresh = self._post_sync(
                        "refresh", self.refresh_url, {"refresh_token": action[1].refresh_token}
                    )
                return self._succeed(fresh)
        except SessionExpired as exc:
            if exc._announce and self.on_session_expired is not None:
                self.on_session_expired(exc)
            raise

    async def _tokens_async(self, rejected: str | None) -> Tokens:
        """Return tokens to send; refresh or log in first if needed, once across tasks."""
        if rejected is None:
            tokens = self.store.load()
            if tokens is not None and not self._due(tokens):
                return tokens
        flight = self.store.flight
        try:
            async with self.store.alock():
                action = self._decide(flight, rejected)
                if isinstance(action, Tokens):
                    return action
                if action == _LOGIN:
                    fresh = await self._post_async("login", self.login_url, self._credentials())
                else:
                    fresh = await self._post_async(
                        "refresh", self.refresh_url, {"refresh_token": action[1].refresh_token}
                    )
                return self._succeed(fresh)
        except SessionExpired as exc:
            if exc._announce and self.on_session_expired is not None:
                result = self.on_session_expired(exc)
                if inspect.isawaitable(result):
                    await result
            raise

    def _decide(
        self, flight: int, rejected: str | None
    ) -> Tokens | Literal["login"] | tuple[Literal["refresh"], Tokens]:
        """Under the lock: return usable tokens, or say whether to log in or refresh.

        `flight` is the store's flight count read before waiting for the lock: if a refresh
        finished meanwhile and failed, raise (a copy of) its error rather than try again.
        """
        store = self.store
        if store.flight != flight and store.failure is not None:
            raise store.failure.copy()
        tokens = store.load()
        if tokens is None:
            if store.ended and isinstance(store.failure, SessionExpired):
                raise store.failure.copy()
            if store.ended or self._username is None:
                raise SessionExpired("Not logged in.", code="not_logged_in")
            return _LOGIN
        if rejected is None:
            if not self._due(tokens):
                return tokens
        elif tokens.access_token != rejected:
            # The 401 was for a token someone has replaced since: replay with the current one.
            return tokens
        return ("refresh", tokens)

    def _succeed(self, tokens: Tokens) -> Tokens:
        """Under the lock: store a new pair and tell the waiters the flight succeeded."""
        store = self.store
        store.save(tokens)
        store.ended = False
        store.failure = None
        store.flight += 1
        if self.on_tokens_updated is not None:
            self.on_tokens_updated(tokens)
        return tokens

    def _fail(self, error: ClientError) -> None:
        """Under the lock: record a failed flight for the waiters; end the session if expired."""
        store = self.store
        if isinstance(error, SessionExpired):
            self._end()
            error._announce = True
        store.failure = error
        store.flight += 1

    def _end(self) -> None:
        """Under the lock: forget the pair; no automatic login until `login()`."""
        self.store.save(None)
        self.store.ended = True
        if self.on_tokens_updated is not None:
            self.on_tokens_updated(None)

    # --- HTTP to the token endpoints ---------------------------------------------------------

    def _post_sync(self, kind: str, url: httpx.URL, payload: dict[str, str]) -> Tokens:
        try:
            try:
                response = self._sync_client().post(url, json=payload)
            except httpx.TransportError as exc:
                raise AuthUnavailable(
                    f"Could not reach {url}: {exc}", code="network_error"
                ) from exc
            return _token_response(kind, response)
        except ClientError as exc:
            self._fail(exc)
            raise

    async def _post_async(self, kind: str, url: httpx.URL, payload: dict[str, str]) -> Tokens:
        try:
            try:
                if self._async_token_client is not None:
                    response = await self._async_token_client.post(url, json=payload)
                else:
                    # A client per call: an AsyncClient's connections belong to one event loop,
                    # and the auth may outlive it. Logins and refreshes are rare.
                    async with httpx.AsyncClient(timeout=self.timeout) as client:
                        response = await client.post(url, json=payload)
            except httpx.TransportError as exc:
                raise AuthUnavailable(
                    f"Could not reach {url}: {exc}", code="network_error"
                ) from exc
            return _token_response(kind, response)
        except ClientError as exc:
            self._fail(exc)
            raise

    def _send_logout_sync(self, tokens: Tokens) -> httpx.Response:
        try:
            return self._sync_client().post(
                self.logout_url, json={"refresh_token": tokens.refresh_token}
            )
        except httpx.TransportError as exc:
            raise AuthUnavailable(f"Could not log out: {exc}", code="network_error") from exc

    async def _send_logout_async(self, tokens: Tokens) -> httpx.Response:
        payload = {"refresh_token": tokens.refresh_token}
        try:
            if self._async_token_client is not None:
                return await self._async_token_client.post(self.logout_url, json=payload)
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                return await client.post(self.logout_url, json=payload)
        except httpx.TransportError as exc:
            raise AuthUnavailable(f"Could not log out: {exc}", code="network_error") from exc

    @staticmethod
    def _check_logout(response: httpx.Response) -> None:
        # Any 4xx means the server holds no session for this refresh token any more.
        if response.status_code >= 500 or response.status_code == 429:
            code, detail = _error_of(response)
            error = AuthUnavailable(detail, code=code, status_code=response.status_code)
            error.retry_after = _retry_after(response)
            raise error

    def _sync_client(self) -> httpx.Client:
        # Called only under the store's lock, so two threads never both create one.
        if self._token_client is None:
            self._token_client = httpx.Client(timeout=self.timeout)
            self._owns_token_client = True
        return self._token_client

    # --- Helpers -----------------------------------------------------------------------------

    def _credentials(
        self, username: str | None = None, password: str | None = None
    ) -> dict[str, str]:
        if username is not None or password is not None:
            if username is None or password is None:
                raise ValueError("Pass both username and password, or neither.")
            self._username, self._password = username, password
        if self._username is None or self._password is None:
            raise ValueError("No username and password to log in with.")
        return {"username": self._username, "password": self._password}

    def _due(self, tokens: Tokens) -> bool:
        margin = self.refresh_margin
        if margin is None:
            margin = min(DEFAULT_REFRESH_MARGIN, tokens.expires_in / 4)
        return tokens.remaining <= margin

    def _ours(self, request: httpx.Request) -> bool:
        """Return whether the request goes to the API's origin (never leak the token elsewhere)."""
        url, base = request.url, self.base_url
        return (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port)

    @staticmethod
    def _authorize(request: httpx.Request, tokens: Tokens) -> None:
        request.headers["Authorization"] = f"Bearer {tokens.access_token}"


def _replayable(request: httpx.Request) -> bool:
    """Return whether the body is in memory, so a retry sends the same bytes."""
    # json=, data=, content=bytes and no body give a ByteStream; generators, files and
    # multipart give streams that may be consumed by the first attempt.
    return isinstance(request.stream, httpx.ByteStream)


def _error_of(response: httpx.Response) -> tuple[str | None, str]:
    """Return the `code` and `detail` of an API error response (the body may not be JSON)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = body.get("code")
        detail = body.get("detail")
        return (
            code if isinstance(code, str) else None,
            detail if isinstance(detail, str) else response.reason_phrase,
        )
    return None, response.reason_phrase or f"HTTP {response.status_code}"


def _retry_after(response: httpx.Response) -> float | None:
    """Return the Retry-After delay in seconds, when the server gave one as a number."""
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None


def _token_response(kind: str, response: httpx.Response) -> Tokens:
    """Return the pair of a login or refresh response, or raise the error it stands for."""
    status = response.status_code
    if status == 200:
        try:
            body = response.json()
        except ValueError as exc:
            raise ClientError(
                f"The {kind} response is not JSON.", code="bad_response", status_code=status
            ) from exc
        if not isinstance(body, dict):
            raise ClientError(
                f"The {kind} response is not an object.", code="bad_response", status_code=status
            )
        return Tokens.from_response(body)
    code, detail = _error_of(response)
    if status >= 500 or status == 429:
        error = AuthUnavailable(detail, code=code or "server_error", status_code=status)
        error.retry_after = _retry_after(response)
        raise error
    if status in (401, 403):
        if kind == "refresh":
            raise SessionExpired(detail, code=code, status_code=status)
        raise LoginFailed(detail, code=code, status_code=status)
    if status == 400 and kind == "login":
        raise LoginFailed(detail, code=code, status_code=status)
    raise ClientError(f"{kind} answered {status}: {detail}", code=code, status_code=status)
