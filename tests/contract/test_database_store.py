"""What only the database store does: rows, queries, cleanup, and answering 503 when its
database cannot be reached (on SQLite and on PostgreSQL; see conftest.py)."""

from __future__ import annotations

import time
from io import StringIO

import psycopg
import pytest
from django.core.management import call_command
from django.db import connections
from django.test.utils import CaptureQueriesContext

from tests.conftest import bearer, login
from tests.contract.conftest import HAS_POSTGRES, create, database_params
from tests.harness import free_port
from tokens.models import SessionOwner, StoredSession

on_each_database = pytest.mark.parametrize("store_kind", database_params(), indirect=True)
# The outage tests close connections, which only a test outside a transaction may do.
on_postgres_for_real = pytest.mark.parametrize(
    "store_kind", database_params(transaction=True)[1:], indirect=True
)


def refresh(api, body):
    response = api.post(
        "/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


@on_each_database
def test_a_session_is_one_row_whatever_its_rotations_and_holds_no_token(store, api, user):
    body = login(api)
    seen = [body]
    for _ in range(100):
        body = refresh(api, body)
        seen.append(body)

    rows = list(StoredSession.objects.filter(user_id=str(user.pk)).values())
    assert len(rows) == 1
    assert SessionOwner.objects.count() == 1
    stored = " ".join(str(value) for value in rows[0].values())
    for pair in seen:
        assert pair["refresh_token"] not in stored
        assert pair["access_token"] not in stored
    assert api.get("/api/user/info", **bearer(body["access_token"])).status_code == 200


@on_each_database
def test_the_session_check_and_the_user_are_one_query(store, api, user):
    body = login(api)
    with CaptureQueriesContext(connections[store.alias]) as queries:
        response = api.get("/api/user/info", **bearer(body["access_token"]))
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["username"]) == (user.pk, "alice")
    # The user's row, on condition that the session is live (`BaseStore.read_if_live()`):
    # as many statements as simplejwt's authenticated request.
    assert len(queries) == 1, [q["sql"] for q in queries]
    assert "tokens_storedsession" in queries[0]["sql"]
    assert "username" in queries[0]["sql"]

    api.post("/api/auth/logout", **bearer(body["access_token"]))
    with CaptureQueriesContext(connections[store.alias]) as queries:
        response = api.get("/api/user/info", **bearer(body["access_token"]))
    assert response.status_code == 401
    assert response.json()["code"] == "session_revoked"
    assert len(queries) == 1


@on_each_database
@pytest.mark.parametrize("how", ["deleted", "deactivated"])
def test_a_user_gone_behind_the_sites_back_is_401(store, api, user, django_user_model, how):
    body = login(api)
    users = django_user_model.objects.filter(pk=user.pk)
    # Neither sends a signal: the session is still live, the user is not.
    if how == "deleted":
        users._raw_delete(users.db)
    else:
        users.update(is_active=False)
    # Also where the view reads no more than the user's id: the row came with the check.
    for path in ("/api/user/info", "/api/auth/sessions"):
        response = api.get(path, **bearer(body["access_token"]))
        assert response.status_code == 401, path
        assert response.json()["code"] == "session_revoked"


@pytest.mark.skipif(not HAS_POSTGRES, reason="TOKENS_TEST_POSTGRES is empty")
@pytest.mark.django_db(databases=["default", "postgres"])
def test_users_in_another_database_are_read_apart(settings, api, user):
    """The sessions on PostgreSQL, the users on SQLite: no join across two databases."""
    settings.TOKENS = {**settings.TOKENS, "STORE": "tokens.stores.db.DatabaseStore"}
    settings.DATABASE_ROUTERS = ["tests.contract.conftest.TokensOnPostgres"]
    body = login(api)

    with (
        CaptureQueriesContext(connections["postgres"]) as sessions,
        CaptureQueriesContext(connections["default"]) as users,
    ):
        response = api.get("/api/user/info", **bearer(body["access_token"]))

    assert response.status_code == 200, response.content
    assert response.json()["username"] == "alice"
    assert len(sessions) == 1
    assert "auth_user" not in sessions[0]["sql"]
    assert len(users) == 1


@on_each_database
def test_tokens_cleanup_deletes_expired_rows_in_batches(store):
    now = time.time()
    expired = [create(store, str(i), now=now - 7200, lifetime=3600) for i in range(5)]
    live = [create(store, str(10 + i)) for i in range(3)]
    out = StringIO()

    call_command("tokens_cleanup", batch_size=2, stdout=out)

    assert "Deleted 5 expired sessions and 5 idle owner rows" in out.getvalue()
    remaining = set(StoredSession.objects.values_list("session_id", flat=True))
    assert remaining == {r.session_id for r in live}
    assert all(store.is_live(r.user_id, r.session_id, time.time()) for r in live)
    assert not any(store.get(r.user_id, r.session_id) for r in expired)


@pytest.mark.django_db
def test_tokens_cleanup_rejects_a_batch_size_below_one():
    with pytest.raises(Exception, match="at least 1"):
        call_command("tokens_cleanup", batch_size=0)


def assert_unavailable(response):
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "store_unavailable"
    assert int(response["Retry-After"]) >= 1


@pytest.mark.usefixtures("store")
@on_postgres_for_real
def test_a_store_database_at_a_closed_port_answers_503_and_recovers(
    settings, api, make_user, caplog
):
    # Users stay in the default database; only the sessions are on PostgreSQL.
    settings.DATABASE_ROUTERS = ["tests.contract.conftest.TokensOnPostgres"]
    make_user()
    body = login(api)
    postgres = connections["postgres"]
    port = postgres.settings_dict["PORT"]
    postgres.close()
    postgres.settings_dict["PORT"] = free_port()
    try:
        assert_unavailable(
            api.post(
                "/api/auth/login",
                {"username": "alice", "password": "correct-horse-battery"},
                format="json",
            )
        )
        assert_unavailable(
            api.post("/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json")
        )
        assert_unavailable(api.get("/api/user/info", **bearer(body["access_token"])))
        assert_unavailable(api.post("/api/auth/logout", **bearer(body["access_token"])))
        # Logged once per failed request, at ERROR, with the database's own error as cause.
        errors = [r for r in caplog.records if r.name == "tokens.store"]
        assert len(errors) == 4
        assert all(r.levelname == "ERROR" and "OperationalError" in r.message for r in errors)
    finally:
        postgres.close()
        postgres.settings_dict["PORT"] = port
    # The session outlived the outage untouched.
    body = refresh(api, body)
    assert api.get("/api/user/info", **bearer(body["access_token"])).status_code == 200


@pytest.mark.usefixtures("store")
@on_postgres_for_real
def test_a_terminated_database_connection_answers_503_then_the_site_recovers(api, user):
    body = login(api)
    postgres = connections["postgres"]
    with postgres.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    params = postgres.get_connection_params()
    with psycopg.connect(
        host=params.get("host"),
        port=params.get("port"),
        user=params.get("user"),
        dbname=params["dbname"],
        autocommit=True,
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])

    assert_unavailable(api.get("/api/user/info", **bearer(body["access_token"])))
    assert_unavailable(
        api.post("/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json")
    )

    # A worker drops a broken connection at the end of the request (Django's
    # close_old_connections; the test client leaves that to the test).
    postgres.close()
    body = refresh(api, body)
    assert api.get("/api/user/info", **bearer(body["access_token"])).status_code == 200


@pytest.mark.parametrize("store_kind", database_params(transaction=True), indirect=True)
def test_reuse_ends_the_session_for_good_on_a_site_with_atomic_requests(
    store, api, user, settings, monkeypatch
):
    # ATOMIC_REQUESTS wraps each view in a transaction that DRF rolls back when the view
    # answers an error: the reuse answer (403) must not take the session's ending back with it.
    monkeypatch.setitem(connections[store.alias].settings_dict, "ATOMIC_REQUESTS", True)
    settings.TOKENS = {**settings.TOKENS, "ROTATION_GRACE_PERIOD": 0}
    first = login(api)
    second = refresh(api, first)

    reused = api.post("/api/auth/refresh", {"refresh_token": first["refresh_token"]}, format="json")
    assert (reused.status_code, reused.json()["code"]) == (403, "refresh_token_reused")

    after = api.post("/api/auth/refresh", {"refresh_token": second["refresh_token"]}, format="json")
    assert (after.status_code, after.json()["code"]) == (403, "session_revoked")
    assert api.get("/api/user/info", **bearer(second["access_token"])).status_code == 401
