"""The lazy user of `SessionJWTAuthentication` never turns into a 500.

A view that needs only the user's id costs no query: the user row loads on its first real use.
For a user deleted or deactivated behind the site's back (raw SQL, a queryset update: no signal
ends their sessions), that first use may come after the view, in a middleware or a template,
outside DRF's exception handling. There it is Django's `PermissionDenied` (403), never a 500,
and with the app's `handler403` (`tokens.exceptions.permission_denied`, as the demo site sets
it) 401 `session_revoked` like every other ended session, as inside a DRF view.

The lazy user is the Redis store's: the database store reads the user with the session check
(tests/contract/test_database_store.py), so these tests are marked `redis_store` and left out
of a run on another store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from rest_framework.test import APIClient

from tests.conftest import bearer, login

# The lazy user exists on the Redis store only (see above).
pytestmark = pytest.mark.redis_store

MIDDLEWARE = "tests.test_lazy_user.ReadsTheUserAfterTheView"


class ReadsTheUserAfterTheView:
    """A site's middleware that names the user of a successful response, after the view."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user: Any = getattr(request, "user", None)
        if response.status_code < 400 and user is not None and user.is_authenticated:
            response["X-Username"] = user.get_username()
        return response


@pytest.fixture
def reading_middleware(settings: Any) -> None:
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, MIDDLEWARE]


@pytest.mark.django_db
@pytest.mark.usefixtures("reading_middleware")
def test_a_middleware_reads_the_user_of_a_live_session(api, user):
    body = login(api)

    response = api.get("/api/auth/sessions", **bearer(body["access_token"]))

    assert response.status_code == 200
    assert response["X-Username"] == "alice"


def gone_behind_the_site_s_back(user: Any, django_user_model: Any, gone: str) -> None:
    users = django_user_model.objects.filter(pk=user.pk)
    if gone == "deleted":
        users._raw_delete(users.db)  # as raw SQL would: no signal, the session stays live
    else:
        users.update(is_active=False)


@pytest.mark.django_db
@pytest.mark.usefixtures("reading_middleware")
@pytest.mark.parametrize("gone", ["deactivated", "deleted"])
def test_read_after_the_view_a_user_gone_behind_the_site_s_back_answers_401_json(
    user, django_user_model, gone
):
    # The demo site sets handler403 = "tokens.exceptions.permission_denied".
    client = APIClient(raise_request_exception=False)
    body = login(client)
    gone_behind_the_site_s_back(user, django_user_model, gone)

    response = client.get("/api/auth/sessions", **bearer(body["access_token"]))

    assert (response.status_code, response.json()["code"]) == (401, "session_revoked")
    assert response["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'
    assert "X-Username" not in response
    # The view itself, reading the user, answers the same through DRF.
    info = client.get("/api/user/info", **bearer(body["access_token"]))
    assert (info.status_code, info.json()["code"]) == (401, "session_revoked")
    assert info["WWW-Authenticate"] == response["WWW-Authenticate"]


@pytest.mark.django_db
@pytest.mark.usefixtures("reading_middleware")
def test_without_the_app_s_403_handler_it_is_django_s_403_never_a_500(
    user, django_user_model, monkeypatch
):
    import config.urls

    monkeypatch.delattr(config.urls, "handler403")
    client = APIClient(raise_request_exception=False)
    body = login(client)
    gone_behind_the_site_s_back(user, django_user_model, "deactivated")

    response = client.get("/api/auth/sessions", **bearer(body["access_token"]))

    assert response.status_code == 403
    assert "X-Username" not in response


@pytest.mark.django_db
def test_the_app_s_403_handler_leaves_other_permission_errors_to_django(rf):
    from django.core.exceptions import PermissionDenied

    from tokens.exceptions import permission_denied

    response = permission_denied(rf.get("/"), PermissionDenied())

    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
