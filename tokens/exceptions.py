"""API errors (DRF exceptions with codes) and the exception handler that renders them.

Services and stores raise the plain domain errors of `tokens.errors`. Views and the
authentication class turn them into the DRF exceptions here, whose `default_code` is the stable
`code` of the JSON error body. `exception_handler` makes every error body of the API
`{"code": ..., "detail": ...}`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response

from .answers import (
    RETRY_AFTER_SECONDS,
    STORE_UNAVAILABLE,
    access_failure,
    header_types,
    refresh_failure,
    session_ended,
)
from .errors import (
    LoginInterrupted,
    StoreUnavailable,
    TokensError,
)

# --- API errors ----------------------------------------------------------------------------


class TokensAPIException(exceptions.APIException):
    """An API error whose JSON body may carry extra members (for example RFC 6749 `error`)."""

    extra: dict[str, Any] | None = None

    def __init__(self, detail: Any = None, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail, code)
        if extra:
            self.extra = extra


class InvalidCredentials(TokensAPIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = _("Unable to log in with the provided credentials.")
    default_code = "invalid_credentials"


class PasswordLoginRefused(TokensAPIException):
    """400: the password was right, but this account may not sign in with a password alone."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = _("This account cannot sign in with a password alone: use the site's sign-in.")
    default_code = "password_login_refused"


class InvalidRequest(TokensAPIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = _("The request is malformed.")
    default_code = "invalid_request"


class ServiceUnavailable(TokensAPIException):
    """503 `store_unavailable`; its response carries `Retry-After` (see `exception_handler`).

    Nothing a 503 answered was applied, or it is safe to apply again: the client retries the
    same request after `Retry-After` seconds.
    """

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code, default_detail = STORE_UNAVAILABLE
    retry_after = RETRY_AFTER_SECONDS


class LoginConflictError(TokensAPIException):
    """409: the user's sessions were ended while this login was checking the password."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = _(
        "The account's sessions were ended while this login was in progress. Log in again."
    )
    default_code = "login_interrupted"


class RefreshTokenError(TokensAPIException):
    """Any refresh failure: 403, so clients know to log in again rather than refresh."""

    status_code = status.HTTP_403_FORBIDDEN
    default_detail = _("The refresh token is invalid.")
    default_code = "refresh_token_invalid"


class AccessTokenError(exceptions.AuthenticationFailed):
    """Any access-token failure: 401 with `WWW-Authenticate: Bearer`."""

    default_detail = _("The access token is invalid.")
    default_code = "access_token_invalid"


class UserGoneError(AccessTokenError, PermissionDenied):
    """The lazy user of a live session names a user deleted or deactivated behind our back.

    `tokens.authentication.LazyUser` raises it when the user's row is first read. Inside a DRF
    view it answers like every ended session: 401 `session_revoked` (see `exception_handler`).
    Read after the view (a middleware, a template), outside DRF's exception handling, it is
    Django's `PermissionDenied`: Django answers 403 through the site's `handler403`, never 500;
    with `permission_denied` as that handler, 401 `session_revoked` like the API.
    """

    default_code, default_detail = session_ended()

    def as_access_error(self) -> AccessTokenError:
        """Return the plain 401 this stands for, with the `WWW-Authenticate` DRF gave it."""
        error = AccessTokenError(self.detail, self.default_code)
        error.auth_header = getattr(self, "auth_header", None)  # type: ignore[attr-defined]
        return error


class CsrfFailed(TokensAPIException):
    """A request that relies on the refresh-token cookie failed Django's CSRF check."""

    status_code = status.HTTP_403_FORBIDDEN
    default_detail = _("CSRF check failed: send the csrftoken cookie's value in X-CSRFToken.")
    default_code = "csrf_failed"


class NoSuchSessionError(TokensAPIException):
    """404 `session_not_found`: the session is not the caller's, or no longer live."""

    status_code = status.HTTP_404_NOT_FOUND
    default_detail = _("No such session.")
    default_code = "session_not_found"


def refresh_error(exc: TokensError) -> exceptions.APIException:
    """Translate a domain error met while refreshing into its 403 (or 503) API error."""
    if isinstance(exc, StoreUnavailable):
        return ServiceUnavailable()
    code, detail = refresh_failure(exc)
    return RefreshTokenError(detail, code)


def access_error(exc: TokensError) -> exceptions.APIException:
    """Translate a domain error met while authenticating into its 401 (or 503) API error."""
    if isinstance(exc, StoreUnavailable):
        return ServiceUnavailable()
    code, detail = access_failure(exc)
    return AccessTokenError(detail, code)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 403 view, except for a user gone behind the site's back: 401 `session_revoked`.

    Set it as the site's `handler403` (`handler403 = "tokens.exceptions.permission_denied"` in
    the root URLconf). A lazy user whose row is first read after a DRF view, where DRF's
    handler cannot answer, raises `UserGoneError`; with this handler it answers as the API
    answers every ended session, as JSON with `WWW-Authenticate`. Any other `PermissionDenied`
    gets Django's own 403 page.
    """
    if not isinstance(exception, UserGoneError):
        return defaults.permission_denied(request, exception)  # type: ignore[arg-type]
    response = JsonResponse(
        {"code": exception.default_code, "detail": str(exception.detail)}, status=401
    )
    response["WWW-Authenticate"] = f'{header_types()[0]} realm="api", error="invalid_token"'
    return response


# --- The exception handler -----------------------------------------------------------------

_CODE_OVERRIDES = {
    exceptions.ParseError: "invalid_json",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.Throttled: "throttled",
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render every API error as `{"code": ..., "detail": ...}` (validation errors add `errors`).

    The app's own endpoints use it whatever the settings say (`tokens.views.TokensAPIView`);
    set it as REST_FRAMEWORK["EXCEPTION_HANDLER"] for the site's views too, so that theirs
    answer alike. A wrong content type answers 400, not 415, and a store outage raised from
    any view answers 503 `store_unavailable`.
    """
    # Imported here: rest_framework.views loads the authentication classes, which import us.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, StoreUnavailable):
        exc = ServiceUnavailable()
    elif isinstance(exc, UserGoneError):
        # Before the PermissionDenied branch (DRF's handler has one too): in a view it is 401.
        exc = exc.as_access_error()
    elif isinstance(exc, LoginInterrupted):
        exc = LoginConflictError()
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response

    body: dict[str, Any]
    if isinstance(exc, exceptions.ValidationError):
        body = {
            "code": "invalid_request",
            "detail": _first_message(exc.detail),
            "errors": exc.detail,
        }
    else:
        code = _code_of(exc)
        body = {"code": code, "detail": _first_message(exc.detail)}
    if isinstance(exc, exceptions.UnsupportedMediaType):
        response.status_code = status.HTTP_400_BAD_REQUEST
    if isinstance(exc, TokensAPIException) and exc.extra:
        body.update(exc.extra)
    wait = getattr(exc, "wait", None)
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        body["retry_after"] = int(wait + 0.999)
    if isinstance(exc, ServiceUnavailable):
        response["Retry-After"] = str(exc.retry_after)
    response.data = body
    return response


def _code_of(exc: exceptions.APIException) -> str:
    for exc_class, code in _CODE_OVERRIDES.items():
        if type(exc) is exc_class:
            return code
    codes = exc.get_codes()
    while isinstance(codes, dict | list) and codes:
        codes = next(iter(codes.values())) if isinstance(codes, dict) else codes[0]
    return codes if isinstance(codes, str) else exc.default_code


def _first_message(detail: Any) -> str:
    while isinstance(detail, dict | list) and detail:
        if isinstance(detail, dict):
            key, value = next(iter(detail.items()))
            message = _first_message(value)
            return message if key in ("detail", "non_field_errors") else f"{key}: {message}"
        detail = detail[0]
    return str(detail)
