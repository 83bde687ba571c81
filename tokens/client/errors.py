"""The errors `tokens.client` raises. Each carries the server's `code` when it sent one."""

from __future__ import annotations

from typing import Self


class ClientError(Exception):
    """Base class of the errors `tokens.client` raises."""

    def __init__(
        self, detail: str, *, code: str | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.status_code = status_code
        # True only on the error the refreshing caller raises; waiters get copies without it, so
        # `on_session_expired` runs once per ended session.
        self._announce = False

    def copy(self) -> Self:
        """Return a new error with the same detail, code and cause, for another waiter to raise.

        Raising one instance from several threads would interleave their tracebacks on it.
        """
        clone = type(self)(self.detail, code=self.code, status_code=self.status_code)
        clone.__cause__ = self.__cause__
        return clone

    def __str__(self) -> str:
        return f"{self.detail} ({self.code})" if self.code else self.detail


class SessionExpired(ClientError):
    """The session is over: the refresh token was refused, revoked or logged out. Log in again."""


class LoginFailed(ClientError):
    """The server refused the username and password."""


class AuthUnavailable(ClientError):
    """The token endpoint was unreachable or answered 5xx/429: transient, the tokens are kept.

    Retry later (after `retry_after` seconds when the server said so); the session is still
    valid as far as the client knows.
    """

    retry_after: float | None = None

    def copy(self) -> Self:
        """Return a new error like this one, `retry_after` included."""
        clone = super().copy()
        clone.retry_after = self.retry_after
        return clone
