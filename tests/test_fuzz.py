"""Fuzz every operation of the site's own OpenAPI schema against a real gunicorn server.

Schemathesis generates requests from `/api/schema/`, with no credentials and with a fresh, valid
bearer token, and checks each answer: never a 5xx, always what the schema says (status, content
type, body), and every error a JSON object with a `code`. `make test` runs a bounded number of
examples per operation; `make fuzz` sets FUZZ_EXAMPLES much higher.
"""

import json
import os

import httpx
import pytest
import schemathesis
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from tests.conftest import PASSWORD

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))


def site_schema() -> dict:
    """Return the document the site serves at /api/schema/ (fetched in-process at collection).

    Requests then go to a real gunicorn server; the schema is read first only because
    Schemathesis builds one test per operation before any fixture (server) exists.
    """
    response = Client().get("/api/schema/", {"format": "json"}, HTTP_HOST="127.0.0.1")
    assert response.status_code == 200, response.content
    return json.loads(response.content)


# A well-formed login, token request or password change is still refused (400) when its
# password or token is wrong: that is what the schema documents, not a rejected valid request.
CREDENTIAL_OPERATIONS = [
    "/api/auth/login",
    "/api/auth/token",
    "/api/auth/password",
    "/api/user/password",
]
CONFIG = SchemathesisConfig.from_dict(
    {
        "operations": [
            {
                "include-path": path,
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", 400, 401, 403]}
                },
            }
            for path in CREDENTIAL_OPERATIONS
        ]
    }
)
schema = schemathesis.openapi.from_dict(site_schema(), config=CONFIG)

# Every case is sent to a real gunicorn server.
pytestmark = pytest.mark.live


@pytest.fixture
def server(gunicorn_servers):
    return gunicorn_servers()


@pytest.fixture
def fresh_token(gunicorn_servers, transactional_db, make_user):
    """Return a function that logs alice in and returns a new access token each time."""
    make_user("alice")
    server = gunicorn_servers()
    client = httpx.Client(base_url=server.url, timeout=10)

    def token():
        response = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    yield token
    client.close()


def json_error_body(ctx, response, case):
    """Every error is a JSON object with a string `code` and a `detail`."""
    if response.status_code < 400:
        return None
    headers = {name.lower(): values for name, values in response.headers.items()}
    content_type = headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), (
        f"{response.status_code} with Content-Type {content_type!r}: {response.text[:200]!r}"
    )
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("code"), str), body
    assert "detail" in body, body
    return None


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=not os.environ.get("FUZZ_EXAMPLES"),
    database=None,
)


@schema.parametrize()
@FUZZ
def test_anonymous_requests_keep_to_the_schema(case, server):
    case.call_and_validate(base_url=server.url, additional_checks=[json_error_body])


@schema.parametrize()
@FUZZ
def test_requests_with_a_valid_bearer_token_keep_to_the_schema(case, server, fresh_token):
    headers = {"Authorization": f"Bearer {fresh_token()}"}
    case.call_and_validate(
        base_url=server.url, headers=headers, additional_checks=[json_error_body]
    )
