from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import PASSWORD, bearer, login


@pytest.mark.django_db
def test_login_then_call(api, user):
    body = login(api)
    assert api.get("/api/user/info", **bearer(body["access_token"])).json()["username"] == "alice"


@pytest.mark.live
def test_sixteen_concurrent_refreshes_share_one_successor(gunicorn_server, make_user):
    make_user("bob")
    body = httpx.post(
        f"{gunicorn_server.url}/api/auth/login", json={"username": "bob", "password": PASSWORD}
    ).json()

    def refresh(_):
        return httpx.post(
            f"{gunicorn_server.url}/api/auth/refresh",
            json={"refresh_token": body["refresh_token"]},
            timeout=10,
        )

    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(refresh, range(16)))
    assert [r.status_code for r in responses] == [200] * 16
    assert len({r.json()["refresh_token"] for r in responses}) == 1
