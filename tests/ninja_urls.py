"""The site's URLs plus Ninja APIs of the tests' own (`TEST_URLCONF=tests.ninja_urls` for a server).

`/tests/ninja/` has the bearers' views that show `request.user`, a view that calls the services
(a store outage raised by a view), and an async view that needs no session nor Redis (`ping`:
whether the event loop still answers while another request waits on a stalled Redis).
`/tests/ninja-bare/` is an API without `add_error_handlers()`.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import path
from ninja import NinjaAPI

from config.urls import urlpatterns as site_urlpatterns
from tokens import services
from tokens.contrib.ninja import AsyncSessionBearer, SessionBearer, add_error_handlers

api = NinjaAPI(urls_namespace="ninja-tests", auth=SessionBearer(), docs_url=None)
add_error_handlers(api)


@api.get("/who")
def who(request: HttpRequest) -> dict[str, Any]:
    return {"auth": request.auth.pk, "user": request.user.pk}  # type: ignore[attr-defined]


@api.get("/async/who", auth=AsyncSessionBearer())
async def async_who(request: HttpRequest) -> dict[str, Any]:
    return {"auth": request.auth.pk, "user": request.user.pk}  # type: ignore[attr-defined]


@api.get("/async/ping", auth=None)
async def ping(request: HttpRequest) -> dict[str, bool]:
    return {"pong": True}


@api.get("/live-sessions", auth=None)
def live_sessions(request: HttpRequest) -> int:
    return services.count_live_sessions()


bare = NinjaAPI(urls_namespace="ninja-tests-bare", auth=SessionBearer(), docs_url=None)


@bare.get("/who")
def bare_who(request: HttpRequest) -> dict[str, Any]:
    return {"auth": request.auth.pk}  # type: ignore[attr-defined]


urlpatterns = [
    *site_urlpatterns,
    path("tests/ninja/", api.urls),
    path("tests/ninja-bare/", bare.urls),
]
