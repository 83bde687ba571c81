"""django-allauth headless, ending in the app's sessions: `HEADLESS_TOKEN_STRATEGY`.

Settings (docs/integrations.md)::

    HEADLESS_TOKEN_STRATEGY = "tokens.contrib.allauth.TokenStrategy"
    MIDDLEWARE = [..., "django.middleware.csrf.CsrfViewMiddleware", ...,
                  "allauth.account.middleware.AccountMiddleware",
                  "tokens.contrib.allauth.RefreshCookieMiddleware"]

How allauth's app client and the app's sessions fit together:

- An allauth flow in progress lives in a Django session, named by allauth's `X-Session-Token`,
  as allauth does it. When a flow signs the user in, `tokens.services.login()` starts one of the
  app's sessions and its pair goes in the response's `meta`. The flow's Django session moves to
  a key derived from the app's session (an HMAC of its user and session ids under SECRET_KEY),
  which `meta.session_token` then names, and it records which session of the app it belongs to.
- A bearer access token of the app authenticates allauth's app endpoints: its session must be
  live in the store (as for every endpoint of the app), and it names that Django session through
  the same derivation; a lost Django session is recreated for the token's user.
- An `X-Session-Token` whose Django session belongs to an ended session of the app is refused
  (allauth's 410), and allauth's logout ends the app's session (a `user_logged_out` receiver):
  ending either side ends both.
- `POST /_allauth/app/v1/tokens/refresh` is `tokens.services.rotate()`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import import_module
from typing import Any

from allauth.core import context
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.headless.tokens.strategies.base import AbstractTokenStrategy
from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
    user_logged_out,
)
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.sessions.backends.base import CreateError, SessionBase
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import salted_hmac

from tokens import services
from tokens.answers import RETRY_AFTER_SECONDS, STORE_UNAVAILABLE, bearer_token
from tokens.cookies import set_refresh_cookie
from tokens.errors import StoreUnavailable, TokenInvalid, TokensError
from tokens.jwt import jwt_api_settings

__all__ = ["TRANSPORT_HEADER", "RefreshCookieMiddleware", "TokenStrategy"]

logger = logging.getLogger("tokens")

# The request header that asks for the browser transport: the refresh token in the app's
# HttpOnly cookie instead of `meta.refresh_token`.
TRANSPORT_HEADER = "X-Tokens-Transport"

# In a Django session that belongs to one of the app's sessions: [user id, session id].
LINKED_SESSION = "tokens.session"
# On the request: RefreshCookieMiddleware is installed, and the pair whose cookie it sets.
_MIDDLEWARE_ACTIVE = "_tokens_allauth_cookie_middleware"
_COOKIE_PAIR = "_tokens_allauth_cookie_pair"
# On the request: the meta of the session it started, if it started one.
_ISSUED = "_tokens_allauth_issued"
_KEY_SALT = "tokens.contrib.allauth.session-key"


class TokenStrategy(AbstractTokenStrategy):
    """allauth's token strategy whose tokens are the app's session tokens."""

    def get_session_token(self, request: HttpRequest) -> str | None:
        """Return the `X-Session-Token`, else the Django session key a live access token names.

        An access token that is invalid, expired or whose session has ended names none (the
        request is anonymous, as with allauth's JWT strategy).
        """
        token = super().get_session_token(request)
        if token:
            return token
        raw = _bearer(request)
        if raw is None:
            return None
        try:
            access = services.authenticate_access(raw)
        except StoreUnavailable as exc:
            raise ImmediateHttpResponse(store_unavailable_response()) from exc
        except TokensError:
            return None
        return _ensure_linked_session(access.user_id, access.session_id, access)

    def create_session_token(self, request: HttpRequest) -> str:
        """Return the key of the request's Django session, saving it first if it is new."""
        if not request.session.session_key:
            request.session.save()
        key = request.session.session_key
        assert isinstance(key, str)  # saved just above
        return key

    def lookup_session(self, session_token: str) -> SessionBase | None:
        """Return the Django session a session token names, or None if it is gone.

        A Django session that belongs to one of the app's sessions is gone with it: it is
        deleted when that session is no longer live.
        """
        session = _session_store(session_token)
        # Reading loads it; a missing or expired session clears its key.
        linked = session.get(LINKED_SESSION)
        if not session.session_key:
            return None
        if linked is None:
            return session
        user_id, session_id = linked
        try:
            live = services.session_is_live(user_id, session_id)
        except StoreUnavailable as exc:
            raise ImmediateHttpResponse(store_unavailable_response()) from exc
        if not live:
            session.delete()
            return None
        return session

    def create_access_token_payload(self, request: HttpRequest) -> dict[str, Any] | None:
        """Start one of the app's sessions for the user the flow signed in; return its `meta`.

        `access_token`, `refresh_token` (left out under the cookie transport, which sets the
        HttpOnly cookie instead), their lifetimes, and `session_token`: the flow's Django
        session, moved to the key the access token names.
        """
        issued: dict[str, Any] | None = getattr(request, _ISSUED, None)
        if issued is not None:
            # allauth may build more than one response in a request that signs in (a password
            # reset builds the login's, then its own); they all carry the one session started.
            return dict(issued)
        cookie = request.headers.get(TRANSPORT_HEADER, "").strip().lower() == "cookie"
        if cookie and not getattr(request, _MIDDLEWARE_ACTIVE, False):
            raise ImproperlyConfigured(
                f"{TRANSPORT_HEADER}: cookie needs tokens.contrib.allauth.RefreshCookieMiddleware "
                "in MIDDLEWARE, after CsrfViewMiddleware."
            )
        # request.user is allauth's lazy user; the services and their signals get the model's.
        pk = request.user.pk
        assert pk is not None  # allauth asks only once the user is authenticated
        user = get_user_model()._default_manager.get(pk=pk)
        try:
            pair = services.login(user, request=request)
        except StoreUnavailable as exc:
            raise ImmediateHttpResponse(store_unavailable_response()) from exc
        user_id = services.user_id_of(user)
        session = _link(request.session, user_id, pair.session_id)
        request.session = session
        if cookie:
            setattr(request, _COOKIE_PAIR, pair)
        payload = pair.as_response(include_refresh=not cookie)
        payload["session_token"] = session.session_key
        setattr(request, _ISSUED, payload)
        return dict(payload)

    def refresh_token(self, refresh_token: str) -> tuple[str, str] | None:
        """Rotate through `tokens.services.rotate()`; None for a token it refuses (allauth's 400).

        A reused refresh token ends its whole session there, access token included.
        """
        try:
            pair = services.rotate(refresh_token, request=context.request)
        except StoreUnavailable as exc:
            raise ImmediateHttpResponse(store_unavailable_response()) from exc
        except TokensError:
            return None
        return pair.access_token, pair.refresh_token

    @classmethod
    def openapi_spec(cls) -> dict[str, Any]:
        """Return allauth's OpenAPI security schemes plus the app's bearer access token."""
        spec = super().openapi_spec()
        spec["securitySchemes"]["Bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "The app's access token. Only needed when `client` is `app`.",
        }
        spec["security"].insert(-1, {"Bearer": []})
        return spec


class RefreshCookieMiddleware:
    """Set the refresh cookie for allauth flows that finish under `X-Tokens-Transport: cookie`.

    A token strategy returns `meta` only; the response is built by allauth, so the cookie is set
    here on the way out. Place it after `CsrfViewMiddleware`, whose response step then sets the
    csrftoken cookie the client echoes when it refreshes.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        """Mark the request as served by this middleware; set the cookie a flow asked for."""
        setattr(request, _MIDDLEWARE_ACTIVE, True)
        response = self.get_response(request)
        pair = getattr(request, _COOKIE_PAIR, None)
        if pair is not None and response.status_code == 200:
            set_refresh_cookie(request, response, pair)
        return response


def store_unavailable_response() -> JsonResponse:
    """Return the app's 503 `store_unavailable` answer, with its Retry-After."""
    code, detail = STORE_UNAVAILABLE
    response = JsonResponse({"code": code, "detail": str(detail)}, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def linked_session_key(user_id: str, session_id: str) -> str:
    """Return the key of the Django session that belongs to one of the app's sessions.

    An HMAC under SECRET_KEY: an access token names its session, but the key that opens the
    session's Django session (an `X-Session-Token`) cannot be read from it.
    """
    return salted_hmac(_KEY_SALT, f"{user_id}:{session_id}", algorithm="sha256").hexdigest()[:40]


def _session_store(session_key: str | None = None) -> SessionBase:
    engine = import_module(settings.SESSION_ENGINE)
    store: SessionBase = engine.SessionStore(session_key=session_key)
    return store


def _create(session_key: str) -> SessionBase | None:
    """Create an empty Django session under this key; None if one exists already."""
    session = _session_store(session_key)
    try:
        session.save(must_create=True)
    except CreateError:
        return None
    return session


def _link(flow: SessionBase, user_id: str, session_id: str) -> SessionBase:
    """Move a flow's Django session to the key of the app's session it ended in."""
    session = _create(linked_session_key(user_id, session_id))
    if session is None:  # 2**-160: session ids are random, a clash means a bug
        raise RuntimeError("A Django session already exists for a new session of the app.")
    for key, value in flow.items():
        session[key] = value
    session[LINKED_SESSION] = [user_id, session_id]
    session.save()
    # The flow's key is spent: the client holds the new one from meta.session_token.
    flow.delete()
    return session


def _ensure_linked_session(user_id: str, session_id: str, access: Any) -> str | None:
    """Return the Django session key of a live access token's session, creating it if lost.

    It is lost when Django's session expired (SESSION_COOKIE_AGE) or was cleared while the
    app's session lives on: a new one is signed in for the token's user.
    """
    key = linked_session_key(user_id, session_id)
    if _session_store(key).exists(key):
        return key
    user = services.token_user(access[jwt_api_settings().USER_ID_CLAIM])
    if user is None:
        return None
    session = _create(key)
    if session is None:  # created by a concurrent request meanwhile
        return key
    session[SESSION_KEY] = user._meta.pk.value_to_string(user)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session[LINKED_SESSION] = [user_id, session_id]
    session.save()
    return key


def _bearer(request: HttpRequest) -> str | None:
    # The header the DRF class and Ninja's bearers read (SIMPLE_JWT's name and types); one
    # that is malformed names no session, as an invalid token does.
    try:
        return bearer_token(request.META)
    except TokenInvalid:
        return None


def end_linked_session(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """End the app's session whose Django session the user logs out of (allauth's logout)."""
    session = getattr(request, "session", None)
    linked = session.get(LINKED_SESSION) if session is not None else None
    if not linked:
        return
    user_id, session_id = linked
    try:
        services.end_session(user_id, session_id, reason="logout", request=request)
    except StoreUnavailable as exc:
        # Raised before Django flushes the session: nothing is logged out, the client retries.
        raise ImmediateHttpResponse(store_unavailable_response()) from exc


# Connected when allauth loads the strategy, which it does at the start of every headless
# request, before any logout it serves.
user_logged_out.connect(end_linked_session, dispatch_uid="tokens.contrib.allauth.logout")


def without_second_factor(user: AbstractBaseUser) -> bool:
    """Return whether `user` may sign in with a password alone: no allauth second factor.

    Set as `TOKENS["PASSWORD_LOGIN_ALLOWED"]` on a site with `allauth.mfa`: the app's own
    password logins (`POST auth/login`, the password grant) check the password only, so an
    account with TOTP (or any authenticator allauth asks for) must sign in through allauth.
    """
    from allauth.mfa.utils import is_mfa_enabled

    return not is_mfa_enabled(user)
