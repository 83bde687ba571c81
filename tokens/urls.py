"""URLs of the tokens app; include them anywhere: `path("api/", include("tokens.urls"))`.

Every path is under `auth/`; the refresh cookie's path follows the mount point
(`tokens.cookies.refresh_cookie_path`).
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.http import HttpRequest
from django.urls import path, re_path
from rest_framework import exceptions
from rest_framework.permissions import AllowAny

from . import views
from .authserver import views as authserver_views

app_name = "tokens"


class UnknownEndpointView(views.TokensAPIView):
    """Answer any method on an unknown path under the app's `auth/` prefix with a JSON 404.

    The site's own 404 page is HTML on most sites; under the app's mount point a client gets
    the `{"code": "not_found", "detail": ...}` body every other error of the app has.
    """

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    # Not an endpoint: kept out of the OpenAPI schema.
    schema = None

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> NoReturn:
        raise exceptions.NotFound()

    def options(self, request: HttpRequest, *args: Any, **kwargs: Any) -> NoReturn:
        raise exceptions.NotFound()


urlpatterns = [
    path("auth/login", views.LoginView.as_view(), name="login"),
    path("auth/refresh", views.RefreshView.as_view(), name="refresh"),
    path("auth/token", views.OAuthTokenView.as_view(), name="token"),
    path("auth/revoke", views.RevokeView.as_view(), name="revoke"),
    path("auth/logout", views.LogoutView.as_view(), name="logout"),
    path("auth/logout-all", views.LogoutAllView.as_view(), name="logout-all"),
    path("auth/password", views.PasswordChangeView.as_view(), name="password"),
    path("auth/sessions", views.SessionListView.as_view(), name="sessions"),
    path("auth/sessions/<str:session_id>", views.SessionDetailView.as_view(), name="session"),
    path("auth/jwks", authserver_views.JWKSView.as_view(), name="jwks"),
    path("auth/introspect", authserver_views.IntrospectView.as_view(), name="introspect"),
    # Last: only paths under the app's own `auth/` prefix, so that a site mounting the app at
    # `api/` keeps its other `api/...` URLs.
    re_path(r"^auth/", UnknownEndpointView.as_view(), name="unknown"),
]
