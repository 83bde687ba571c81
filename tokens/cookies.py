"""The refresh-token cookie: where it lives and how it is set, for every view that hands one out.

`tokens.views` (login and refresh with the cookie transport) and integrations that start
sessions outside the app's views (`tokens.contrib.allauth`) set it through `set_refresh_cookie()`,
so the cookie's name, path and flags are decided in one place. It loads no view and no DRF.
"""

from __future__ import annotations

import functools
import posixpath
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.middleware.csrf import get_token
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse

from .conf import tokens_settings

if TYPE_CHECKING:
    from .services import TokenPair

# The views that read the refresh cookie (refresh, logout) or delete it (logout-all): the
# cookie's default path is the longest one that covers all of them.
COOKIE_VIEWS = ("refresh", "logout", "logout-all")


def mounted_cookie_path(namespace: str = "tokens") -> str | None:
    """Return the URL path under which the app's cookie views are mounted, or None if they are not.

    That is the common directory of `COOKIE_VIEWS` as `reverse()` gives them under `namespace`
    (the script prefix included): `/api/auth/` for the app included at `api/`, `/auth/v1/auth/`
    at `auth/v1/`.
    """
    return _mounted_cookie_path(
        get_urlconf() or settings.ROOT_URLCONF, get_script_prefix(), namespace
    )


# Reversing three names costs about 0.1 ms; a URLconf's paths do not change while it is loaded
# (Django caches its resolver the same way), so each answer is kept per URLconf and prefix.
@functools.lru_cache(maxsize=64)
def _mounted_cookie_path(urlconf: Any, script_prefix: str, namespace: str) -> str | None:
    try:
        paths = [reverse(f"{namespace}:{name}", urlconf=urlconf) for name in COOKIE_VIEWS]
    except NoReverseMatch:
        return None
    # The common directory, "/"-terminated: a cookie of path /api/auth/ is sent to
    # /api/auth/refresh but not to /api/authx (RFC 6265 5.1.4).
    return posixpath.commonpath(paths).rstrip("/") + "/"


def refresh_cookie_path(request: HttpRequest) -> str:
    """Return the refresh cookie's path: `TOKENS["REFRESH_COOKIE_PATH"]`, else where it is used.

    By default the path follows where the site mounted the app: the instance of `tokens.urls`
    this request came through (`mounted_cookie_path()`). Views wired up outside `tokens.urls`
    (an allauth view, for example) fall back to the default instance, then to `/`.
    """
    configured = tokens_settings.REFRESH_COOKIE_PATH
    if configured is not None:
        return str(configured)
    match = getattr(request, "resolver_match", None)
    if match is not None and match.app_names and match.app_names[-1] == "tokens":
        mounted = mounted_cookie_path(match.namespace)
        if mounted is not None:
            return mounted
    return mounted_cookie_path() or "/"


def set_refresh_cookie(request: HttpRequest, response: HttpResponseBase, pair: TokenPair) -> None:
    """Put the pair's refresh token in the HttpOnly cookie and make sure a csrftoken cookie follows.

    The client must echo the csrftoken cookie in X-CSRFToken when the refresh cookie is used.
    `request` is Django's request (a DRF request works too: it proxies what is read here).
    """
    secure = tokens_settings.REFRESH_COOKIE_SECURE
    if secure is None:
        secure = request.is_secure() or not settings.DEBUG
    response.set_cookie(
        tokens_settings.REFRESH_COOKIE_NAME,
        pair.refresh_token,
        max_age=pair.refresh_expires_in,
        path=refresh_cookie_path(request),
        domain=tokens_settings.REFRESH_COOKIE_DOMAIN,
        secure=secure,
        httponly=True,
        samesite=tokens_settings.REFRESH_COOKIE_SAMESITE,
    )
    # Make CsrfViewMiddleware set the csrftoken cookie the client must echo in X-CSRFToken.
    get_token(getattr(request, "_request", request))
