"""The `TOKENS` settings, with their defaults, read live on every access.

Lifetimes and signing are simplejwt's (`SIMPLE_JWT`); this module never duplicates them. Nothing
here is cached, so `override_settings` and pytest-django's `settings` fixture take effect at once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings as django_settings

DEFAULTS: dict[str, Any] = {
    # Replaying the immediately previous refresh token within this window returns the same
    # successor instead of counting as reuse, so concurrent refreshes never log a user out.
    "ROTATION_GRACE_PERIOD": timedelta(seconds=10),
    # How many replays of a rotated-away refresh token one rotation accepts inside the grace
    # window; the next one is reuse and ends the session. 32 lets a burst of 16 honest concurrent
    # refreshes (tabs, retries) through with room to spare, and stops a stolen token long before
    # it mints thousands of access tokens.
    "ROTATION_MAX_REPLAYS": 32,
    # Hard cap on a session's total life, whatever the rotations.
    "SESSION_MAX_AGE": timedelta(days=30),
    # When a login would exceed this many live sessions, the least recently used one ends.
    "MAX_SESSIONS_PER_USER": None,
    # Dotted path of the session store class.
    "STORE": "tokens.stores.redis.RedisStore",
    # django-redis cache alias whose connection the Redis store uses.
    "CACHE_ALIAS": "default",
    # Django cache alias the login throttles count in (any backend every worker shares);
    # None: CACHE_ALIAS.
    "THROTTLE_CACHE_ALIAS": None,
    # Prefix of every Redis key the store writes.
    "KEY_PREFIX": "tokens",
    # Longest user agent recorded with a session (bytes of UTF-8); longer ones keep their start
    # and end around "…" (tokens.display.shorten_user_agent()). The Redis store keeps at most
    # tokens.stores.redis.AGENT_MAX_BYTES of it, whatever this says.
    "USER_AGENT_MAX_LENGTH": 256,
    # Refresh-token cookie (browser clients that log in with "use_cookie": true).
    "REFRESH_COOKIE_NAME": "refresh_token",
    # None: the URL path where the site mounted the app's refresh and logout views (`/api/auth/`
    # for the app included at `api/`), so the browser sends the cookie to them and nowhere else.
    "REFRESH_COOKIE_PATH": None,
    "REFRESH_COOKIE_DOMAIN": None,
    "REFRESH_COOKIE_SAMESITE": "Lax",
    # None: Secure unless the request is plain HTTP while DEBUG is on.
    "REFRESH_COOKIE_SECURE": None,
    # Verifying keys besides SIMPLE_JWT's own (the next key, published before it signs, and
    # retired keys, kept until their last tokens expire): PEM public keys, JWK dicts, or
    # {"key": ..., "kid": ..., "algorithm": ...}. See docs/sso.md.
    "VERIFYING_KEYS": (),
    # Dotted path to a callable(user) -> dict whose items ride in every access token, read
    # afresh from the user at login and at each refresh (roles, tenant ids). A claim the app
    # owns (jti, exp, iat, iss, aud, sub, nbf, token_type, the user id claim, sid) is refused
    # with tokens.jwt.ClaimConflict. None: no custom claims. See docs/integrations.md.
    "ACCESS_CLAIMS": None,
    # Dotted path to `callable(user) -> bool`, asked after a correct password at the app's own
    # password logins (POST auth/login, the token endpoint's password grant): False answers
    # 400 password_login_refused and starts no session. For a site whose accounts may have a
    # second factor that another sign-in asks for ("tokens.contrib.allauth.without_second_factor").
    # None: every correct password signs in.
    "PASSWORD_LOGIN_ALLOWED": None,
    # How long clients may cache GET /api/auth/jwks (seconds).
    "JWKS_MAX_AGE": 300,
    # Redis channel on which a "session ended" event is published (docs/sso.md); None: none.
    "EVENTS_CHANNEL": "tokens:events",
    # django-redis cache alias the events are published through; None: CACHE_ALIAS.
    "EVENTS_CACHE_ALIAS": None,
}


class TokensSettings:
    """Attribute access to `settings.TOKENS`, falling back to `DEFAULTS`."""

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown TOKENS setting: {name!r}")
        user_settings = getattr(django_settings, "TOKENS", None) or {}
        return user_settings.get(name, DEFAULTS[name])

    @property
    def grace_seconds(self) -> float:
        """Return the rotation grace period in seconds."""
        return to_seconds(self.ROTATION_GRACE_PERIOD)

    @property
    def max_age_seconds(self) -> int:
        """Return the session max age in whole seconds."""
        return int(to_seconds(self.SESSION_MAX_AGE))


def to_seconds(value: timedelta | float | int) -> float:
    """Return a duration setting (a timedelta, or a number of seconds) in seconds."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


tokens_settings = TokensSettings()
