"""TOKENS["ACCESS_CLAIMS"]: the site's own claims in every access token, read afresh from the user
at login and at each refresh; a claim the app owns is refused, never overridden."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIRequestFactory

from tests.conftest import PASSWORD, bearer, login
from tests.test_bench import redis_round_trips
from tests.test_resource_jwks import JWKSServer
from tests.test_sso import sign_with
from tokens import services
from tokens.checks import check_settings
from tokens.jwt import ClaimConflict
from tokens.resource.authentication import ResourceTokenAuthentication
from tokens.resource.jwks import jwks_cache
from tokens.stores import get_store


def role_claims(user: Any) -> dict[str, Any]:
    """The site's claims: a role and a tenant, read from the user."""
    return {"role": "admin" if user.is_staff else "member", "tenant": f"t-{user.pk}"}


def session_claims(user: Any) -> dict[str, Any]:
    return {"role": "member", "sid": "mine"}


def expiry_claims(user: Any) -> dict[str, Any]:
    return {"exp": 4_102_444_800}


def not_a_dict(user: Any) -> Any:
    return ["role", "admin"]


def not_json(user: Any) -> dict[str, Any]:
    return {"joined": object()}


NOT_CALLABLE = {"role": "admin"}


def claims_of(raw: str) -> dict[str, Any]:
    return jwt.decode(raw, options={"verify_signature": False})


@pytest.fixture
def with_claims(settings: Any) -> None:
    settings.TOKENS = {**settings.TOKENS, "ACCESS_CLAIMS": "tests.test_access_claims.role_claims"}


def refresh(api: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(
        "/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_login_and_refresh_carry_the_claims_and_a_changed_role_shows_at_the_next_refresh(
    api: Any, user: Any, with_claims: None
) -> None:
    body = login(api)
    assert claims_of(body["access_token"])["role"] == "member"
    assert claims_of(body["access_token"])["tenant"] == f"t-{user.pk}"
    # The refresh token carries none of them: only services read access tokens.
    assert "role" not in claims_of(body["refresh_token"])
    body = refresh(api, body)
    assert claims_of(body["access_token"])["role"] == "member"

    user.is_staff = True
    user.save()
    body = refresh(api, body)
    assert claims_of(body["access_token"])["role"] == "admin"
    # The access token still authenticates, with its claims as request.auth's.
    assert api.get("/api/auth/sessions", **bearer(body["access_token"])).status_code == 200


def test_without_the_setting_tokens_carry_only_the_app_s_claims(api: Any, user: Any) -> None:
    body = login(api)
    assert set(claims_of(body["access_token"])) == {
        "token_type",
        "exp",
        "iat",
        "jti",
        "user_id",
        "sid",
    }


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("tests.test_access_claims.session_claims", "'sid'"),
        ("tests.test_access_claims.expiry_claims", "'exp'"),
    ],
)
def test_a_claim_the_app_owns_is_refused_at_login_and_no_session_starts(
    user: Any, settings: Any, path: str, named: str
) -> None:
    settings.TOKENS = {**settings.TOKENS, "ACCESS_CLAIMS": path}
    with pytest.raises(ClaimConflict, match=named):
        services.login(user)
    assert get_store().sessions(str(user.pk), 0) == []


def test_a_claim_the_app_owns_is_refused_at_refresh_too(
    api: Any, user: Any, settings: Any, with_claims: None
) -> None:
    body = login(api)
    settings.TOKENS = {
        **settings.TOKENS,
        "ACCESS_CLAIMS": "tests.test_access_claims.session_claims",
    }
    with pytest.raises(ClaimConflict, match="'sid'"):
        services.rotate(body["refresh_token"])


def test_the_claims_of_a_renamed_user_id_claim_are_refused_under_its_new_name(
    user: Any, settings: Any
) -> None:
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "USER_ID_CLAIM": "role"}
    settings.TOKENS = {**settings.TOKENS, "ACCESS_CLAIMS": "tests.test_access_claims.role_claims"}
    with pytest.raises(ClaimConflict, match="'role'"):
        services.login(user)


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("tests.test_access_claims.not_a_dict", "must return a dict"),
        ("tests.test_access_claims.not_json", "JSON cannot hold"),
    ],
)
def test_a_callable_that_returns_no_claims_is_refused_before_a_session_starts(
    user: Any, settings: Any, path: str, detail: str
) -> None:
    settings.TOKENS = {**settings.TOKENS, "ACCESS_CLAIMS": path}
    with pytest.raises(ClaimConflict, match=detail):
        services.login(user)
    assert get_store().sessions(str(user.pk), 0) == []


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("tests.test_access_claims.nowhere", "cannot be imported"),
        ("tests.test_access_claims.NOT_CALLABLE", "not callable"),
    ],
)
def test_the_check_refuses_a_setting_that_names_no_callable(
    user: Any, settings: Any, path: str, detail: str
) -> None:
    settings.TOKENS = {**settings.TOKENS, "ACCESS_CLAIMS": path}
    found = [m for m in check_settings() if m.id == "tokens.E010"]
    assert len(found) == 1 and detail in found[0].msg
    with pytest.raises(ImproperlyConfigured, match=detail):
        services.login(user)
    assert get_store().sessions(str(user.pk), 0) == []


def test_the_check_accepts_a_callable(settings: Any) -> None:
    settings.TOKENS = {**settings.TOKENS, "ACCESS_CLAIMS": "tests.test_access_claims.role_claims"}
    assert "tokens.E010" not in {m.id for m in check_settings()}


@pytest.mark.redis_store
def test_a_refresh_with_claims_reads_the_user_once_and_redis_once(
    api: Any, user: Any, with_claims: None, redis_server: Any, django_assert_num_queries: Any
) -> None:
    body = login(api)
    before = redis_round_trips(redis_server)
    with django_assert_num_queries(1):
        body = refresh(api, body)
    assert redis_round_trips(redis_server) - before - 1 == 1
    assert claims_of(body["access_token"])["role"] == "member"


@pytest.mark.redis_store
def test_the_claims_reach_a_resource_service(
    api: Any, user: Any, settings: Any, with_claims: None
) -> None:
    sign_with(settings, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    server = JWKSServer(api.get("/api/auth/jwks").json())
    settings.TOKENS_RESOURCE = {
        "JWKS_URL": server.url,
        "ISSUER": "http://testserver",
        "LIVENESS": "store",
        "CACHE_ALIAS": settings.TOKENS.get("CACHE_ALIAS", "default"),
        "KEY_PREFIX": settings.TOKENS.get("KEY_PREFIX", "tokens"),
    }
    jwks_cache.clear()
    try:
        user.is_staff = True
        user.save()
        body = api.post(
            "/api/auth/login", {"username": "alice", "password": PASSWORD}, format="json"
        ).json()
        request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
        service_user, auth = ResourceTokenAuthentication().authenticate(request)  # type: ignore[misc]
        assert service_user.claims["role"] == "admin"
        assert auth["tenant"] == f"t-{user.pk}"
    finally:
        server.stop()
        jwks_cache.clear()
