"""The bench's URLs: its own views, and the API it measures (not the site's pages and flows).

simplejwt's endpoints are the anchor's, in its own project (bench/anchor.py).
"""

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from . import views

urlpatterns = [
    path("bench/bare", views.BareView.as_view()),
    path("bench/refresh-io-floor/<int:user_id>", views.RefreshIOFloorView.as_view()),
    path("bench/ours/id", views.OursIdView.as_view()),
    path("bench/ours/user", views.OursUserView.as_view()),
    path("api/", include("tokens.urls")),
]


def json_not_found(request: HttpRequest, exception: Any = None) -> JsonResponse:
    """Answer an unknown URL in the API's error shape (a bench run counts it as an error)."""
    return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)


def json_server_error(request: HttpRequest) -> JsonResponse:
    """Answer an unhandled error in the API's error shape."""
    return JsonResponse({"code": "server_error", "detail": "Internal server error."}, status=500)


handler404 = json_not_found
handler500 = json_server_error
