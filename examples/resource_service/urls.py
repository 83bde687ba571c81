"""URLs of the example resource service."""

from django.http import HttpRequest, JsonResponse
from django.urls import path

from .views import WhoAmIView


def health(request: HttpRequest) -> JsonResponse:
    """Answer 200 without authentication (for start-up checks)."""
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("api/whoami", WhoAmIView.as_view(), name="whoami"),
    path("health", health, name="health"),
]
