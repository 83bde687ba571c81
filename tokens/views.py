"""Thin views over `tokens.services`: validate input, call one service, shape the response."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from django.contrib.auth import authenticate
from django.db import InterfaceError, OperationalError, connections, transaction
from django.http import HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.metadata import SimpleMetadata
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import services
from .answers import refresh_failure
from .authentication import SessionJWTAuthentication
from .conf import tokens_settings
from .cookies import refresh_cookie_path, set_refresh_cookie
from .errors import LoginInterrupted, SessionNotFound, StoreUnavailable, TokensError
from .exceptions import (
    CsrfFailed,
    InvalidCredentials,
    InvalidRequest,
    LoginConflictError,
    NoSuchSessionError,
    PasswordLoginRefused,
    RefreshTokenError,
    ServiceUnavailable,
    exception_handler,
    refresh_error,
)
from .parsers import JSONParser
from .serializers import (
    DetailSerializer,
    ErrorSerializer,
    LoginSerializer,
    LogoutSerializer,
    OAuthErrorSerializer,
    OAuthTokenRequestSerializer,
    PasswordChangeSerializer,
    RefreshSerializer,
    RevokeSerializer,
    SessionSerializer,
    TokenPairSerializer,
)
from .throttling import LOGIN_THROTTLES, check_password_budget

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

    from .jwt import SessionToken

logger = logging.getLogger("tokens.store")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def token_response(pair: services.TokenPair) -> Response:
    """Return a token pair as an uncacheable 200 response."""
    return Response(pair.as_response(), headers=NO_STORE)


def cookie_token_response(request: Request, pair: services.TokenPair) -> Response:
    """Return a token pair whose refresh token travels in the HttpOnly cookie, not the body."""
    response = Response(pair.as_response(include_refresh=False), headers=NO_STORE)
    set_refresh_cookie(request._request, response, pair)
    return response


def delete_refresh_cookie(request: Request, response: Response) -> None:
    """Expire the refresh-token cookie on the client, if the request carried one."""
    if tokens_settings.REFRESH_COOKIE_NAME not in request.COOKIES:
        return
    response.delete_cookie(
        tokens_settings.REFRESH_COOKIE_NAME,
        path=refresh_cookie_path(request),
        domain=tokens_settings.REFRESH_COOKIE_DOMAIN,
        samesite=tokens_settings.REFRESH_COOKIE_SAMESITE,
    )


def refresh_token_from_cookie(request: Request) -> str | None:
    """Return the refresh-token cookie after Django's CSRF check, or None if there is none.

    A cookie is sent by the browser on its own, so a request that relies on it must prove it
    comes from our page: `X-CSRFToken` matching the `csrftoken` cookie, as Django checks it.
    """
    raw = request.COOKIES.get(tokens_settings.REFRESH_COOKIE_NAME)
    if not raw:
        return None
    check = CsrfViewMiddleware(lambda req: HttpResponse())
    check.process_request(request._request)
    reason = check.process_view(request._request, None, (), {})  # type: ignore[arg-type]
    if reason is not None:
        raise CsrfFailed()
    return raw


def check_credentials(request: Request, username: str, password: str) -> AbstractBaseUser:
    """Return the user these credentials belong to, or raise `InvalidCredentials`.

    Django's `authenticate` runs the hasher for unknown usernames too and sends
    `user_login_failed` with the password scrubbed.
    """
    try:
        user = authenticate(request._request, username=username, password=password)
    except (OperationalError, InterfaceError) as exc:
        # The database that holds the users cannot answer (with the database store it also
        # holds the sessions): the same 503 as a store outage, never a 500.
        logger.error("Login failed: the database is unavailable: %s: %s", type(exc).__name__, exc)
        raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
    if user is None:
        raise InvalidCredentials()
    allowed = tokens_settings.PASSWORD_LOGIN_ALLOWED
    # Asked only after the password matched, so that a wrong guess learns nothing of the account.
    if allowed is not None and not import_string(allowed)(user):
        raise PasswordLoginRefused()
    return user


class TokensAPIView(APIView):
    """The base of every endpoint of the app: JSON in and out, whatever the site's DRF defaults.

    Errors answer `{"code", "detail"}` through `tokens.exceptions.exception_handler` even on a
    site whose REST_FRAMEWORK["EXCEPTION_HANDLER"] is DRF's own or another: the clients read
    the codes, and a store outage must answer 503. Bodies are parsed by the app's JSON parser
    (JSON nested too deep is a 400, not a 500) and answers rendered as JSON only (no
    browsable API, whose HTML a site may not even have templates for). The OAuth endpoints add
    the form encoding RFC 6749 asks for.

    Every other DRF policy is named here too, so that no default of the site's applies: no
    throttles but the login's own password budgets (DRF's `UserRateThrottle` reads
    `is_authenticated` on whoever authenticated, a service client included, and a site-wide
    rate would cut off the refreshes that keep users signed in), no API versioning (the
    endpoints have one version), DRF's own content negotiation and OPTIONS metadata.
    """

    parser_classes: list[Any] = [JSONParser]
    renderer_classes: list[Any] = [JSONRenderer]
    throttle_classes: list[Any] = []
    versioning_class = None
    content_negotiation_class = DefaultContentNegotiation
    metadata_class = SimpleMetadata

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        """Return the view, exempt from `ATOMIC_REQUESTS` on every database.

        Each store operation is atomic on its own. Inside a request-wide transaction, an error
        answer would roll back what the store decided on the way to it: a refresh-token reuse
        answers 403 after ending the session, and the rollback would bring the session back.
        """
        view = super().as_view(**initkwargs)
        for alias in connections:
            view = transaction.non_atomic_requests(using=alias)(view)
        return view

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response | None]:
        """Return the app's exception handler (not REST_FRAMEWORK["EXCEPTION_HANDLER"])."""
        return exception_handler


class PublicView(TokensAPIView):
    """An endpoint that reads its credentials from the body, not from a bearer header."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]


class LoginView(PublicView):
    """Exchange a username and password for a new session's access and refresh tokens."""

    throttle_classes = LOGIN_THROTTLES

    @extend_schema(
        request=LoginSerializer,
        responses={
            200: TokenPairSerializer,
            400: OpenApiResponse(
                ErrorSerializer, description="invalid_credentials, invalid_request"
            ),
            409: OpenApiResponse(ErrorSerializer, description="login_interrupted: log in again"),
            429: OpenApiResponse(ErrorSerializer, description="throttled (see Retry-After)"),
            503: OpenApiResponse(ErrorSerializer, description="store_unavailable"),
        },
        auth=[],
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        data = LoginSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        started = time.time()  # before the password check: see services.login()
        user = check_credentials(
            request, data.validated_data["username"], data.validated_data["password"]
        )
        pair = services.login(user, request=request._request, started_at=started)
        if data.validated_data["use_cookie"]:
            return cookie_token_response(request, pair)
        return token_response(pair)


class RefreshView(PublicView):
    """Trade a refresh token for a new pair. The old refresh token stops working (rotation)."""

    @extend_schema(
        request=RefreshSerializer,
        responses={
            200: TokenPairSerializer,
            400: OpenApiResponse(ErrorSerializer, description="invalid_request"),
            403: OpenApiResponse(
                ErrorSerializer,
                description="refresh_token_invalid, refresh_token_expired, refresh_token_reused, "
                "session_revoked: log in again",
            ),
            503: OpenApiResponse(ErrorSerializer, description="store_unavailable"),
        },
        auth=[],
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        data = RefreshSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        raw = data.validated_data.get("refresh_token")
        from_cookie = raw is None
        if raw is None:
            raw = refresh_token_from_cookie(request)
            if raw is None:
                raise RefreshTokenError(_("No refresh token in the body or the cookie."))
        try:
            pair = services.rotate(raw, request=request._request)
        except TokensError as exc:
            raise refresh_error(exc) from exc
        return cookie_token_response(request, pair) if from_cookie else token_response(pair)


class OAuthTokenView(PublicView):
    """RFC 6749 token endpoint for generic OAuth 2.0 clients: password and refresh_token grants."""

    parser_classes = [JSONParser, FormParser]
    throttle_classes = LOGIN_THROTTLES

    @extend_schema(
        request={
            "application/json": OAuthTokenRequestSerializer,
            "application/x-www-form-urlencoded": OAuthTokenRequestSerializer,
        },
        responses={
            200: TokenPairSerializer,
            400: OpenApiResponse(
                OAuthErrorSerializer,
                description="error: invalid_request, invalid_grant, unsupported_grant_type",
            ),
            409: OpenApiResponse(
                OAuthErrorSerializer,
                description="login_interrupted (error: invalid_grant): log in again",
            ),
            429: OpenApiResponse(ErrorSerializer, description="throttled (see Retry-After)"),
            503: OpenApiResponse(ErrorSerializer, description="store_unavailable"),
        },
        auth=[],
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        data = OAuthTokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        grant = fields["grant_type"]
        if grant == "password":
            if not fields.get("username") or "password" not in fields:
                raise InvalidRequest(
                    _("username and password are required."), error="invalid_request"
                )
            started = time.time()  # before the password check: see services.login()
            try:
                user = check_credentials(request, fields["username"], fields["password"])
            except InvalidCredentials as exc:
                raise InvalidCredentials(error="invalid_grant") from exc
            try:
                pair = services.login(user, request=request._request, started_at=started)
            except LoginInterrupted as exc:
                # The credentials it checked may no longer hold: an invalid grant (RFC 6749
                # §5.2), still 409 login_interrupted like the login endpoint.
                raise LoginConflictError(error="invalid_grant") from exc
            return token_response(pair)
        if grant == "refresh_token":
            if not fields.get("refresh_token"):
                raise InvalidRequest(_("refresh_token is required."), error="invalid_request")
            try:
                pair = services.rotate(fields["refresh_token"], request=request._request)
            except StoreUnavailable as exc:
                raise ServiceUnavailable() from exc
            except TokensError as exc:
                code, detail = refresh_failure(exc)
                raise InvalidRequest(detail, code, error="invalid_grant") from exc
            return token_response(pair)
        raise InvalidRequest(
            _("Unsupported grant_type %(grant_type)s.") % {"grant_type": repr(grant)},
            "unsupported_grant_type",
            error="unsupported_grant_type",
        )

    def handle_exception(self, exc: Exception) -> Response:
        # RFC 6749 §5.2: every 400 from this endpoint names an `error`, and every `error` comes
        # with its `error_description`.
        response = super().handle_exception(exc)
        if isinstance(response.data, dict):
            if response.status_code == status.HTTP_400_BAD_REQUEST:
                response.data.setdefault("error", "invalid_request")
            if "error" in response.data:
                response.data.setdefault("error_description", response.data.get("detail", ""))
        return response


class RevokeView(PublicView):
    """RFC 7009: revoking either token of a session ends the session. Always 200."""

    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        request={
            "application/json": RevokeSerializer,
            "application/x-www-form-urlencoded": RevokeSerializer,
        },
        responses={
            200: DetailSerializer,
            400: OpenApiResponse(ErrorSerializer, description="invalid_request"),
            503: OpenApiResponse(ErrorSerializer, description="store_unavailable"),
        },
        auth=[],
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        data = RevokeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.revoke_token(
            data.validated_data["token"],
            hint=data.validated_data.get("token_type_hint"),
            request=request._request,
        )
        return Response({"detail": _("Token revoked.")}, headers=NO_STORE)


class LogoutView(TokensAPIView):
    """End the current session, named by the bearer access token or a refresh token in the body.

    The body form lets a client whose access token has expired still log out.
    """

    authentication_classes = [SessionJWTAuthentication]
    permission_classes = [AllowAny]

    def perform_authentication(self, request: Request) -> None:
        """Authenticate lazily: with a refresh token in the body, no bearer header is needed."""

    @extend_schema(
        request=LogoutSerializer,
        responses={
            200: DetailSerializer,
            400: OpenApiResponse(ErrorSerializer, description="invalid_request, invalid_json"),
            401: OpenApiResponse(ErrorSerializer, description="not_authenticated, access_token_*"),
            403: OpenApiResponse(ErrorSerializer, description="refresh_token_invalid"),
            503: OpenApiResponse(ErrorSerializer, description="store_unavailable"),
        },
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        data = LogoutSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        raw_refresh = data.validated_data.get("refresh_token") or refresh_token_from_cookie(request)
        if raw_refresh:
            try:
                token = services.refresh_token_session(raw_refresh)
            except TokensError as exc:
                raise refresh_error(exc) from exc
            services.logout(token, request=request._request)
        else:
            if not request.user or not request.user.is_authenticated:
                raise exceptions.NotAuthenticated()
            services.logout(request.auth, request=request._request, user=request.user)  # type: ignore[arg-type]
        response = Response({"detail": _("Logged out.")}, headers=NO_STORE)
        delete_refresh_cookie(request, response)
        return response


class BearerView(TokensAPIView):
    """An endpoint for the holder of a live session's access token (`Authorization: Bearer`).

    Its authentication and permission are its own, not the site's DRF defaults: a caller that
    a site's `SessionAuthentication` or `BasicAuthentication` lets in has no session of this
    app to list, end or keep, so it answers 401 `not_authenticated` like a missing token.
    """

    authentication_classes = [SessionJWTAuthentication]
    permission_classes = [IsAuthenticated]

    @staticmethod
    def caller(request: Request) -> tuple[AbstractBaseUser, SessionToken]:
        """Return the caller and its access token (`IsAuthenticated` has let it in)."""
        # DRF types request.user as a user or AnonymousUser; here it is the token's user, a
        # `LazyUser` that an isinstance() check would load from the database.
        return cast("AbstractBaseUser", request.user), cast("SessionToken", request.auth)


class SessionListView(BearerView):
    """The caller's live sessions, newest first; `current` marks the one asking."""

    @extend_schema(
        responses={
            200: SessionSerializer(many=True),
            401: OpenApiResponse(ErrorSerializer, description="not_authenticated, access_token_*"),
        },
        tags=["sessions"],
    )
    def get(self, request: Request) -> Response:
        user, token = self.caller(request)
        sessions = services.list_sessions(user)
        context = {"current_session_id": token.session_id}
        return Response(SessionSerializer(sessions, many=True, context=context).data)


class SessionDetailView(BearerView):
    """End one of the caller's sessions (another user's session id answers 404)."""

    @extend_schema(
        responses={
            204: None,
            401: OpenApiResponse(ErrorSerializer, description="not_authenticated, access_token_*"),
            404: OpenApiResponse(ErrorSerializer, description="session_not_found"),
        },
        tags=["sessions"],
    )
    def delete(self, request: Request, session_id: str) -> Response:
        user, _ = self.caller(request)
        try:
            services.end_user_session(user, session_id, reason="logout", request=request._request)
        except SessionNotFound as exc:
            raise NoSuchSessionError() from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(BearerView):
    """End every session of the caller, each one's access tokens included."""

    @extend_schema(
        request=None,
        responses={
            200: DetailSerializer,
            401: OpenApiResponse(ErrorSerializer, description="not_authenticated, access_token_*"),
        },
        tags=["sessions"],
    )
    def post(self, request: Request) -> Response:
        user, _ = self.caller(request)
        ended = services.logout_everywhere(user, request=request._request)
        response = Response(
            {
                "detail": ngettext(
                    "Ended %(count)d session.", "Ended %(count)d sessions.", len(ended)
                )
                % {"count": len(ended)},
                "ended": len(ended),
            },
            headers=NO_STORE,
        )
        delete_refresh_cookie(request, response)
        return response


class PasswordChangeView(BearerView):
    """Change the caller's password; every other session ends, this one stays signed in.

    Throttled like a login: each attempt draws on the user's per-username budget of password
    checks before the old password is checked (`tokens.throttling.check_password_budget`), so
    a stolen access token does not buy unlimited guesses.
    """

    @extend_schema(
        request=PasswordChangeSerializer,
        responses={
            200: DetailSerializer,
            400: OpenApiResponse(
                ErrorSerializer,
                description="invalid_request (errors: old_password when it is wrong, "
                "new_password when the site's password validators refuse it)",
            ),
            401: OpenApiResponse(ErrorSerializer, description="not_authenticated, access_token_*"),
            429: OpenApiResponse(ErrorSerializer, description="throttled (see Retry-After)"),
            503: OpenApiResponse(
                ErrorSerializer, description="store_unavailable: the password was not changed"
            ),
        },
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        # Past the user's budget nothing is checked, so nothing is told. A body without an old
        # password checks none and costs nothing.
        user, token = self.caller(request)
        if hasattr(request.data, "get") and "old_password" in request.data:
            check_password_budget(user)
        data = PasswordChangeSerializer(data=request.data, context={"user": user})
        data.is_valid(raise_exception=True)
        services.change_password(
            user, data.validated_data["new_password"], keep_session=token.session_id
        )
        return Response(
            {"detail": _("Password changed. Other sessions have been ended.")}, headers=NO_STORE
        )
