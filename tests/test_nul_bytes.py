"""A NUL byte in any input that can reach a query is a clear 4xx, never PostgreSQL's 500.

PostgreSQL refuses NUL in text (psycopg raises before the query is sent), so a NUL that
reaches the ORM answers 500. Login and the token endpoint refuse it in their serializers; the
client id of HTTP Basic and the session id of the URL are checked by the rule every identifier
goes through (`tokens.rules.is_identifier`): an id that cannot exist is not looked up.
"""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import pytest

from tests.conftest import bearer, login
from tests.contract.conftest import HAS_POSTGRES
from tokens.authserver import clients

pytestmark = [
    pytest.mark.skipif(not HAS_POSTGRES, reason="TOKENS_TEST_POSTGRES is empty"),
    pytest.mark.django_db(databases=["default", "postgres"]),
]


@pytest.fixture(autouse=True)
def on_postgres(settings):
    """Every model, the database store's sessions included, on PostgreSQL."""
    settings.DATABASE_ROUTERS = ["tests.contract.conftest.EverythingOnPostgres"]
    settings.TOKENS = {**settings.TOKENS, "STORE": "tokens.stores.db.DatabaseStore"}


def _introspect(api, credentials: bytes, token: str):
    return api.post(
        "/api/auth/introspect",
        urlencode({"token": token}),
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Basic {base64.b64encode(credentials).decode()}",
    )


@pytest.mark.parametrize("client_id", [b"bill\x00ing", b"bill%00ing", b"\x00", b"%00"])
def test_a_nul_in_the_basic_client_id_is_an_invalid_client(api, user, client_id):
    _, secret = clients.create_client("billing")
    access = login(api)["access_token"]

    response = _introspect(api, client_id + b":" + secret.encode(), access)

    assert response.status_code == 401, response.content
    assert response.json()["code"] == "invalid_client"
    # Nothing was lost: the real client still introspects.
    assert _introspect(api, b"billing:" + secret.encode(), access).json()["active"] is True


@pytest.mark.parametrize("session_id", ["ab%00cd", "%00", "ab%00"])
def test_a_nul_in_a_session_id_is_a_session_not_found(api, user, session_id):
    body = login(api)

    response = api.delete(f"/api/auth/sessions/{session_id}", **bearer(body["access_token"]))

    assert response.status_code == 404, response.content
    assert response.json()["code"] == "session_not_found"
    # The caller's own session is untouched.
    assert api.get("/api/auth/sessions", **bearer(body["access_token"])).status_code == 200


def test_a_nul_in_the_login_name_is_a_bad_request(api, user):
    response = api.post(
        "/api/auth/login", {"username": "ali\x00ce", "password": "x"}, format="json"
    )
    assert response.status_code == 400, response.content


def test_a_nul_in_the_live_sessions_search_finds_nobody(client, admin_user, user):
    client.force_login(admin_user)

    response = client.get("/admin/tokens/livesession/", {"q": "ali\x00ce"})

    assert response.status_code == 200
    assert "alice" not in response.content.decode().split("<tbody>")[-1]
