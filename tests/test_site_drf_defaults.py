"""The app's endpoints keep their own behaviour whatever DRF defaults the site sets.

A site's REST_FRAMEWORK serves its own views. The app's endpoints name every DRF policy they
depend on (authentication, permissions, parsers, renderers, the exception handler, throttles,
versioning, content negotiation, metadata), so a common setting such as DRF's standard
`AnonRateThrottle` / `UserRateThrottle` defaults changes nothing of theirs. DRF reads its
defaults when a view class is defined: these tests run a gunicorn started with them
(`TEST_SITE_DRF_DEFAULTS` in tests/settings.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD
from tokens.authserver import clients

pytestmark = pytest.mark.live


@pytest.fixture
def site(gunicorn_servers: Any, transactional_db: None, make_user: Any) -> Iterator[httpx.Client]:
    make_user("alice")
    server = gunicorn_servers(workers=1, TEST_SITE_DRF_DEFAULTS="1")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def test_introspection_answers_service_clients_on_a_site_with_drf_s_standard_throttles(site):
    client, secret = clients.create_client("billing")
    access = site.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    for _ in range(3):
        response = site.post(
            "/api/auth/introspect",
            data={"token": access.json()["access_token"]},
            auth=(client.name, secret),
        )
        assert response.status_code == 200, response.text
        assert response.json()["active"] is True


def test_every_endpoint_of_the_app_ignores_the_site_s_throttles_and_versioning(site):
    # Each call twice: an inherited 1/min throttle would answer the second with 429.
    credentials = {"username": "alice", "password": PASSWORD}
    for _ in range(2):
        body = site.post("/api/auth/login", json=credentials).json()
        auth = {"Authorization": f"Bearer {body['access_token']}"}
        assert site.get("/api/auth/sessions", headers=auth).status_code == 200
        refreshed = site.post("/api/auth/refresh", json={"refresh_token": body["refresh_token"]})
        assert refreshed.status_code == 200, refreshed.text
        auth = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
        token = site.post("/api/auth/token", data={"grant_type": "password", **credentials})
        assert token.status_code == 200, token.text
        revoked = site.post("/api/auth/revoke", data={"token": token.json()["refresh_token"]})
        assert revoked.status_code == 200, revoked.text
        assert site.get("/api/auth/jwks").status_code == 200
        assert site.get("/.well-known/oauth-authorization-server").status_code == 200
        assert site.post("/api/auth/logout", headers=auth).status_code == 200
        missing = site.get("/api/auth/nowhere")
        assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


def test_options_on_an_endpoint_describes_it_whatever_the_site_s_metadata_class(site):
    response = site.options("/api/auth/login")
    assert response.status_code == 200, response.text
    assert response.json()["name"]
