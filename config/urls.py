"""The site's URLs: the demo page at /, the Vue example at /vue/, the API under /api/, its schema
and docs, the admin."""

import os
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import include, path, re_path
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView


@ensure_csrf_cookie
def demo_page(request: HttpRequest) -> HttpResponse:
    """The demo page; it names the demo user when `make run` says who that is.

    `make run` passes DEMO_USER and DEMO_PASSWORD to the server (the user it just made); a site
    started otherwise shows no credentials. ensure_csrf_cookie: a reloaded page can refresh
    through the cookie at once.
    """
    user, password = os.environ.get("DEMO_USER"), os.environ.get("DEMO_PASSWORD")
    context = {"demo_credentials": (user, password) if user and password else None}
    return render(request, "demo.html", context)


@ensure_csrf_cookie
def vue_app(request: HttpRequest, path: str = "") -> HttpResponse | FileResponse:
    """Serve the Vue example's build: its files, and index.html for every route of the app.

    A small example's server: a real deployment hands these files to its web server or CDN.
    """
    root = settings.VUE_APP_DIR
    if path and (root / path).is_file():
        return serve(request, path, document_root=str(root))
    if not (root / "index.html").is_file():
        return JsonResponse(
            {"code": "not_built", "detail": "The Vue example is not built: run `make vue`."},
            status=404,
        )
    # Any other path is one of the app's routes (history mode): the app reads it itself.
    return serve(request, "index.html", document_root=str(root))


urlpatterns = [
    path("", demo_page, name="demo"),
    re_path(r"^vue/(?P<path>.*)$", vue_app, name="vue"),
    path("admin/", admin.site.urls),
    path("api/", include("tokens.urls")),
    # RFC 8414 metadata at /.well-known/oauth-authorization-server.
    path("", include("tokens.authserver.urls")),
    path("api/user/", include("accounts.urls")),
    # django-allauth headless: its app client at /_allauth/app/v1/ (docs/integrations.md).
    path("_allauth/", include("allauth.headless.urls")),
    path("api/ninja/", include("accounts.ninja_api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]


def json_not_found(request: HttpRequest, exception: Any = None) -> JsonResponse:
    """Answer unknown URLs with the API's JSON error shape."""
    return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)


def json_server_error(request: HttpRequest) -> JsonResponse:
    """Answer an unhandled error with the API's JSON error shape (and no stack trace)."""
    return JsonResponse({"code": "server_error", "detail": "Internal server error."}, status=500)


def json_bad_request(request: HttpRequest, exception: Any = None) -> JsonResponse:
    """Answer a request Django refused before any view (for example a too large body)."""
    return JsonResponse({"code": "bad_request", "detail": "Bad request."}, status=400)


handler404 = json_not_found
handler500 = json_server_error
handler400 = json_bad_request
# A user deleted or deactivated behind the site's back, first read after a view: 401 JSON.
handler403 = "tokens.exceptions.permission_denied"
