"""The demo's Django Ninja API at `/api/ninja/`, signed in by the app's access tokens.

`GET /api/ninja/me` is a sync view (`tokens.contrib.ninja.SessionBearer`), `GET
/api/ninja/async/me` the same answer from an async view (`AsyncSessionBearer`), which checks the
session without blocking the event loop when the site runs under ASGI (`config.asgi`). The root
URLconf includes this module (`include("accounts.ninja_api")`).
"""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import path
from ninja import NinjaAPI, Schema

from tokens.contrib.ninja import AsyncSessionBearer, SessionBearer, add_error_handlers

api = NinjaAPI(
    title="django-tokens demo: Django Ninja",
    urls_namespace="ninja",
    auth=SessionBearer(),
    # The API's own schema pages are the DRF ones at /api/docs/; this one serves JSON only.
    docs_url=None,
)
add_error_handlers(api)


class Me(Schema):
    """The signed-in user."""

    id: int
    username: str


@api.get("/me", response=Me)
def me(request: HttpRequest) -> Me:
    """Return the signed-in user's id and username."""
    return Me(id=request.auth.pk, username=request.auth.username)  # type: ignore[attr-defined]


@api.get("/async/me", response=Me, auth=AsyncSessionBearer())
async def async_me(request: HttpRequest) -> Me:
    """Return the signed-in user's id and username, from an async view."""
    return Me(id=request.auth.pk, username=request.auth.username)  # type: ignore[attr-defined]


urlpatterns = [path("", api.urls)]
