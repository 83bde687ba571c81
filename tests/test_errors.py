"""Under the app's mount point, unknown paths (404) and wrong methods (405) answer JSON errors."""

import pytest

from tests.conftest import bearer, login

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete", "options"])
def test_unknown_path_under_the_mount_answers_json_404(api, method):
    response = getattr(api, method)("/api/auth/no-such-endpoint")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": "not_found", "detail": "Not found."}


def test_unknown_nested_path_answers_json_404_even_with_a_bearer_token(api, user):
    body = login(api)
    response = api.get("/api/auth/sessions/a/b", **bearer(body["access_token"]))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/auth/login"),
        ("put", "/api/auth/refresh"),
        ("get", "/api/auth/token"),
        ("delete", "/api/auth/logout"),
        ("get", "/api/auth/logout-all"),
        ("post", "/api/auth/sessions"),
    ],
)
def test_wrong_method_answers_json_405_with_allow(api, user, method, path):
    body = login(api)
    response = getattr(api, method)(path, **bearer(body["access_token"]))
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert method.upper() in response.json()["detail"]
    assert "Allow" in response


def test_the_sites_other_urls_under_the_same_prefix_still_answer(api, user):
    # The demo mounts the app at api/ beside its own api/user/ URLs: the catch-all is only
    # for the app's auth/ paths.
    body = login(api)
    assert api.get("/api/user/info", **bearer(body["access_token"])).status_code == 200
    assert api.get("/api/schema/").status_code == 200


def test_the_catch_all_is_not_in_the_openapi_schema(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert all("^" not in path and "*" not in path for path in schema["paths"])
    assert "/api/auth/login" in schema["paths"]
