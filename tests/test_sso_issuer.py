"""Issuer and audience: with a key pair, every access token names its issuer (`iss`), may name
the services it is for (`aud`), and both the auth server and the services refuse a correctly
signed token of another issuer or audience. Real RS256/ES256 keys, a real JWKS server on
loopback, the real session store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIRequestFactory

from tests.conftest import bearer, login
from tests.test_resource_jwks import JWKSServer
from tests.test_sso import sign_with
from tokens import services
from tokens.exceptions import AccessTokenError
from tokens.resource.authentication import ResourceTokenAuthentication
from tokens.resource.jwks import jwks_cache

KEYS = {
    "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ES256": ec.generate_private_key(ec.SECP256R1()),
}


@pytest.fixture(params=sorted(KEYS))
def key(request: Any, settings: Any) -> Any:
    """The site signs with a real key pair."""
    sign_with(settings, KEYS[request.param])
    return KEYS[request.param]


@pytest.fixture
def jwks(api: Any, settings: Any, key: Any) -> Iterator[JWKSServer]:
    """The resource side reads the site's JWK Set from loopback, its liveness from the store."""
    server = JWKSServer(api.get("/api/auth/jwks").json())
    settings.TOKENS_RESOURCE = {
        "JWKS_URL": server.url,
        "LIVENESS": "store",
        "CACHE_ALIAS": settings.TOKENS.get("CACHE_ALIAS", "default"),
        "KEY_PREFIX": settings.TOKENS.get("KEY_PREFIX", "tokens"),
    }
    jwks_cache.clear()
    yield server
    server.stop()
    jwks_cache.clear()


def claims_of(raw: str) -> dict[str, Any]:
    return jwt.decode(raw, options={"verify_signature": False})


def resigned(raw: str, key: Any, **changes: Any) -> str:
    """Return the token with some claims changed (None: removed), signed with the site's key."""
    header = jwt.get_unverified_header(raw)
    claims = {**claims_of(raw), **changes}
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(claims, key, algorithm=header["alg"], headers={"kid": header["kid"]})


def service_accepts(raw: str) -> bool:
    """Return whether the resource side authenticates the token; False on a 401."""
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    try:
        return ResourceTokenAuthentication().authenticate(request) is not None
    except AccessTokenError as exc:
        assert exc.status_code == 401
        return False


def site_accepts(api: Any, raw: str) -> bool:
    status = api.get("/api/auth/sessions", **bearer(raw)).status_code
    assert status in (200, 401)
    return bool(status == 200)


def with_resource(settings: Any, **values: Any) -> None:
    settings.TOKENS_RESOURCE = {**settings.TOKENS_RESOURCE, **values}
    jwks_cache.clear()


# --- The auth server issues `iss` ----------------------------------------------------------


def test_a_key_pair_s_tokens_name_the_site_s_origin_as_issuer_as_the_metadata_does(
    api: Any, user: Any, key: Any
) -> None:
    body = login(api)
    metadata = api.get("/.well-known/oauth-authorization-server").json()
    assert claims_of(body["access_token"])["iss"] == metadata["issuer"] == "http://testserver"
    refreshed = api.post(
        "/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json"
    ).json()
    assert claims_of(refreshed["access_token"])["iss"] == "http://testserver"


def test_the_issuer_setting_names_the_issuer(api: Any, user: Any, key: Any, settings: Any) -> None:
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ISSUER": "https://auth.example.com"}
    body = login(api)
    assert claims_of(body["access_token"])["iss"] == "https://auth.example.com"


def test_hmac_tokens_name_no_issuer_unless_one_is_set(api: Any, user: Any) -> None:
    assert "iss" not in claims_of(login(api)["access_token"])


def test_a_key_pair_without_issuer_or_request_refuses_to_mint(user: Any, key: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="ISSUER"):
        services.login(user)


# --- The resource side requires its issuer -------------------------------------------------


@pytest.mark.redis_store
def test_the_service_requires_the_jwks_url_s_origin_as_issuer_by_default(
    api: Any, user: Any, key: Any, jwks: JWKSServer
) -> None:
    own = login(api)["access_token"]
    origin = jwks.url.removesuffix("/api/auth/jwks")
    # The site's token names the origin the test client used, not the JWKS URL's: refused.
    assert claims_of(own)["iss"] == "http://testserver"
    assert not service_accepts(own)
    # The same session's token naming the JWKS URL's origin is the auth server's own.
    assert service_accepts(resigned(own, key, iss=origin))
    # Correctly signed, but of another issuer, or of none: refused.
    assert not service_accepts(resigned(own, key, iss="https://evil.example.com"))
    assert not service_accepts(resigned(own, key, iss=None))


@pytest.mark.redis_store
def test_the_service_requires_its_configured_issuer(
    api: Any, user: Any, key: Any, jwks: JWKSServer, settings: Any
) -> None:
    with_resource(settings, ISSUER="http://testserver")
    own = login(api)["access_token"]
    assert service_accepts(own)
    assert not service_accepts(resigned(own, key, iss="https://staging.example.com"))
    assert not service_accepts(resigned(own, key, iss=None))


@pytest.mark.redis_store
def test_each_service_requires_its_own_audience(
    api: Any, user: Any, key: Any, jwks: JWKSServer, settings: Any
) -> None:
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "AUDIENCE": ["billing", "reports"]}
    with_resource(settings, ISSUER="http://testserver", AUDIENCE="billing")
    own = login(api)["access_token"]
    assert claims_of(own)["aud"] == ["billing", "reports"]
    assert service_accepts(own)
    assert not service_accepts(resigned(own, key, aud="payroll"))
    assert not service_accepts(resigned(own, key, aud=None))
    # A service the site gave no audience of these tokens refuses them.
    with_resource(settings, AUDIENCE="payroll")
    assert not service_accepts(own)


# --- The auth server refuses them too ------------------------------------------------------


def test_the_site_refuses_a_token_of_another_issuer_once_its_issuer_is_set(
    api: Any, user: Any, key: Any, settings: Any
) -> None:
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ISSUER": "https://auth.example.com"}
    own = login(api)["access_token"]
    assert site_accepts(api, own)
    assert not site_accepts(api, resigned(own, key, iss="https://staging.example.com"))
    assert not site_accepts(api, resigned(own, key, iss=None))


def test_the_site_refuses_a_token_of_another_audience_once_its_audiences_are_set(
    api: Any, user: Any, key: Any, settings: Any
) -> None:
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "AUDIENCE": ["billing", "reports"]}
    own = login(api)["access_token"]
    assert site_accepts(api, own)
    assert not site_accepts(api, resigned(own, key, aud="payroll"))
    assert not site_accepts(api, resigned(own, key, aud=None))


def test_introspection_names_the_token_s_issuer(api: Any, user: Any, key: Any) -> None:
    from tests.test_sso import basic, introspect
    from tokens.authserver import clients

    client, secret = clients.create_client("billing")
    body = login(api)
    answer = introspect(api, {"token": body["access_token"]}, **basic(client.name, secret)).json()
    assert answer["active"] is True
    assert answer["iss"] == "http://testserver"
