"""Domain errors: what `tokens.services`, the stores and the token module raise.

Plain exceptions with a stable `code`, no DRF import: the store layer runs without an API in
sight, and the services raise these to the admin, management commands and signal receivers
too. The API side (`tokens.exceptions`) translates them into HTTP errors.
"""

from __future__ import annotations


class TokensError(Exception):
    """Base class of the errors `tokens.services` and the stores raise."""

    code = "tokens_error"


class StoreUnavailable(TokensError):
    """The session store (Redis) could not be reached in time."""

    code = "store_unavailable"


class LoginInterrupted(TokensError):
    """The user's sessions were all ended while this login was checking the password.

    The password it checked may have just changed, or the user logged out everywhere: the login
    creates no session and may simply be tried again (it checks the password again).
    """

    code = "login_interrupted"


class TokenInvalid(TokensError):
    """The token is malformed, badly signed, of the wrong type, or not ours."""

    code = "token_invalid"


class TokenExpired(TokensError):
    """The token's `exp` has passed."""

    code = "token_expired"


class TokenReused(TokensError):
    """A rotated-away refresh token was presented after the grace window: the session is ended."""

    code = "refresh_token_reused"


class SessionRevoked(TokensError):
    """The token's session no longer exists (logged out, revoked, expired or evicted)."""

    code = "session_revoked"


class SessionNotFound(TokensError):
    """No live session with this id belongs to this user."""

    code = "session_not_found"
