"""Asymmetric signing with kids, key rotation, JWKS, RFC 8414 metadata, RFC 7662 introspection,
service clients, and the session-ended events (in process; tests/test_sso_live.py runs the same
across real servers)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from io import StringIO
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.conftest import ROOT, bearer, login
from tokens.authserver import clients
from tokens.jwt import token_backend
from tokens.keys import hmac_kid, public_jwk, signing_settings, thumbprint
from tokens.models import ServiceClient
from tokens.resource import events as resource_events
from tokens.stores import get_store
from tokens.stores.redis import RedisStore


def private_pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_pem_of(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


KEYS: dict[str, Any] = {
    "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ES256": ec.generate_private_key(ec.SECP256R1()),
    "EdDSA": ed25519.Ed25519PrivateKey.generate(),
}


def kid_of(key: Any, algorithm: str) -> str:
    return thumbprint(public_jwk(key, algorithm))


def sign_with(settings: Any, key: Any, *, retired: Sequence[Any] = ()) -> None:
    """Make the site sign with `key`, also verifying with the `retired` keys."""
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, **signing_settings(private_pem(key))}
    settings.TOKENS = {**settings.TOKENS, "VERIFYING_KEYS": [public_pem_of(k) for k in retired]}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_token(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    """Return an HS256 token made by hand (PyJWT refuses a PEM key as an HMAC secret)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


# --- Keys and kids -------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
def test_the_site_signs_with_the_key_s_algorithm_and_its_thumbprint_as_kid(
    api, user, settings, algorithm
):
    key = KEYS[algorithm]
    sign_with(settings, key)
    assert settings.SIMPLE_JWT["ALGORITHM"] == algorithm
    body = login(api)
    for raw in (body["access_token"], body["refresh_token"]):
        header = jwt.get_unverified_header(raw)
        assert header["alg"] == algorithm
        assert header["kid"] == kid_of(key, algorithm)
    # The public key alone verifies it: what another service does.
    claims = jwt.decode(body["access_token"], public_pem_of(key), algorithms=[algorithm])
    assert claims["token_type"] == "access"
    assert api.get("/api/auth/sessions", **bearer(body["access_token"])).status_code == 200
    refreshed = api.post(
        "/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json"
    )
    assert refreshed.status_code == 200


def test_a_key_object_without_a_verifying_key_signs_and_verifies(api, user, settings):
    key = KEYS["ES256"]
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ALGORITHM": "ES256", "SIGNING_KEY": key}
    body = login(api)
    assert jwt.get_unverified_header(body["access_token"])["kid"] == kid_of(key, "ES256")
    assert api.get("/api/auth/sessions", **bearer(body["access_token"])).status_code == 200
    assert [k["kid"] for k in api.get("/api/auth/jwks").json()["keys"]] == [kid_of(key, "ES256")]


def test_hs256_stays_the_default_with_a_kid_that_reveals_nothing_and_an_empty_jwks(
    api, user, settings
):
    body = login(api)
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "HS256"
    assert header["kid"] == hmac_kid(settings.SECRET_KEY)
    assert settings.SECRET_KEY[:8] not in header["kid"]
    response = api.get("/api/auth/jwks")
    assert response.status_code == 200
    assert response.json() == {"keys": []}


def test_a_token_minted_before_kids_keeps_verifying_with_the_current_key(api, user, settings):
    body = login(api)
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    without_kid = jwt.encode(claims, settings.SECRET_KEY, algorithm="HS256")
    assert "kid" not in jwt.get_unverified_header(without_kid)
    assert api.get("/api/auth/sessions", **bearer(without_kid)).status_code == 200


def test_the_resource_side_installs_without_the_auth_server_s_app_or_a_database():
    code = (
        "import django; django.setup();"
        "from django.apps import apps; from django.conf import settings;"
        "import tokens.resource.authentication, tokens.resource.events;"
        "print(sorted(a.label for a in apps.get_app_configs()), settings.DATABASES,"
        " [m.__name__ for m in apps.get_models()])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT / "examples",
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "resource_service.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "['rest_framework', 'tokens_resource'] {} []"


@pytest.mark.parametrize(
    ("resource", "ids"),
    [
        ({}, ["tokens_resource.E001"]),
        ({"JWKS_URL": "http://a/jwks", "LIVENESS": "cache"}, ["tokens_resource.E002"]),
        ({"JWKS_URL": "http://a/jwks", "LIVENESS": "introspection"}, ["tokens_resource.E003"]),
        ({"JWKS_URL": "http://a/jwks"}, []),
    ],
)
def test_the_resource_settings_are_checked(settings, resource, ids):
    from tokens.resource.checks import check_resource_settings

    settings.TOKENS_RESOURCE = resource
    assert [error.id for error in check_resource_settings()] == ids


def test_tokens_of_a_retired_key_keep_working_and_new_ones_carry_the_new_kid(api, user, settings):
    old, new = KEYS["RS256"], KEYS["EdDSA"]
    sign_with(settings, old)
    before = login(api)
    sign_with(settings, new, retired=[old])

    assert api.get("/api/auth/sessions", **bearer(before["access_token"])).status_code == 200
    refreshed = api.post(
        "/api/auth/refresh", {"refresh_token": before["refresh_token"]}, format="json"
    )
    assert refreshed.status_code == 200, refreshed.content
    after = refreshed.json()
    assert jwt.get_unverified_header(after["access_token"])["kid"] == kid_of(new, "EdDSA")
    assert api.get("/api/auth/sessions", **bearer(after["access_token"])).status_code == 200

    jwks = api.get("/api/auth/jwks").json()
    assert [k["kid"] for k in jwks["keys"]] == [kid_of(new, "EdDSA"), kid_of(old, "RS256")]
    # Once the retired key is dropped, its tokens stop verifying.
    sign_with(settings, new)
    refused = api.get("/api/auth/sessions", **bearer(before["access_token"]))
    assert refused.status_code == 401
    assert refused.json()["code"] == "access_token_invalid"


def test_the_jwks_holds_public_keys_only_and_is_cacheable(api, settings):
    sign_with(settings, KEYS["RS256"], retired=[KEYS["ES256"]])
    response = api.get("/api/auth/jwks")
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=300"
    keys = response.json()["keys"]
    assert {k["kty"] for k in keys} == {"RSA", "EC"}
    for key in keys:
        assert {"kid", "alg", "use"} <= key.keys()
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & key.keys()
        # Every published key verifies what it should.
        assert jwt.PyJWK(key).algorithm_name == key["alg"]


def test_an_unknown_kid_is_refused(api, user, settings):
    sign_with(settings, KEYS["RS256"])
    body = login(api)
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "not-ours"})
    response = api.get("/api/auth/sessions", **bearer(forged))
    assert response.status_code == 401
    assert response.json()["code"] == "access_token_invalid"
    # The right kid on another key's signature is refused too.
    kid = kid_of(KEYS["RS256"], "RS256")
    forged = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": kid})
    assert api.get("/api/auth/sessions", **bearer(forged)).status_code == 401


@pytest.mark.parametrize("with_kid", [True, False])
def test_hs256_signed_with_the_public_key_is_refused(api, user, settings, with_kid):
    key = KEYS["RS256"]
    sign_with(settings, key)
    body = login(api)
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    header = {"alg": "HS256", "typ": "JWT"}
    if with_kid:
        header["kid"] = kid_of(key, "RS256")
    forged = hs256_token(header, claims, public_pem_of(key).encode())
    response = api.get("/api/auth/sessions", **bearer(forged))
    assert response.status_code == 401
    assert response.json()["code"] == "access_token_invalid"


def test_a_retired_key_s_token_is_refused_after_its_expiry(api, user, settings):
    old = KEYS["ES256"]
    sign_with(settings, old)
    body = login(api)
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    sign_with(settings, KEYS["EdDSA"], retired=[old])
    expired = {**claims, "iat": int(time.time()) - 120, "exp": int(time.time()) - 60}
    token = jwt.encode(expired, old, algorithm="ES256", headers={"kid": kid_of(old, "ES256")})
    response = api.get("/api/auth/sessions", **bearer(token))
    assert response.status_code == 401
    assert response.json()["code"] == "access_token_expired"


def test_a_verifying_key_can_be_listed_with_its_own_kid(api, user, settings):
    old = KEYS["RS256"]
    settings.TOKENS = {
        **settings.TOKENS,
        "VERIFYING_KEYS": [{"key": public_pem_of(old), "kid": "2025-key"}],
    }
    body = login(api)
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    token = jwt.encode(claims, old, algorithm="RS256", headers={"kid": "2025-key"})
    assert api.get("/api/auth/sessions", **bearer(token)).status_code == 200
    assert [k["kid"] for k in api.get("/api/auth/jwks").json()["keys"]] == ["2025-key"]


def test_a_private_key_is_refused_as_a_verifying_jwk(settings):
    from tokens.keys import KeyConfigurationError

    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEYS["RS256"]))
    settings.TOKENS = {**settings.TOKENS, "VERIFYING_KEYS": [jwk]}
    with pytest.raises(KeyConfigurationError):
        token_backend()


def test_a_public_key_is_refused_as_an_hmac_verifying_secret(settings):
    from tokens.keys import KeyConfigurationError

    pem = public_pem_of(KEYS["RS256"])
    settings.TOKENS = {**settings.TOKENS, "VERIFYING_KEYS": [{"key": pem, "algorithm": "HS256"}]}
    with pytest.raises(KeyConfigurationError):
        token_backend()


def test_a_retired_hmac_secret_keeps_verifying_after_a_move_to_rs256(api, user, settings):
    body = login(api)
    sign_with(settings, KEYS["RS256"])
    settings.TOKENS = {
        **settings.TOKENS,
        "VERIFYING_KEYS": [{"key": settings.SECRET_KEY, "algorithm": "HS256"}],
    }
    assert api.get("/api/auth/sessions", **bearer(body["access_token"])).status_code == 200
    # Never published.
    assert [k["kty"] for k in api.get("/api/auth/jwks").json()["keys"]] == ["RSA"]


# --- RFC 8414 metadata ---------------------------------------------------------------------


def test_the_metadata_names_every_endpoint(api, settings):
    response = api.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    body = response.json()
    base = "http://testserver"
    assert body["issuer"] == base
    assert body["token_endpoint"] == f"{base}/api/auth/token"
    assert body["revocation_endpoint"] == f"{base}/api/auth/revoke"
    assert body["introspection_endpoint"] == f"{base}/api/auth/introspect"
    assert body["jwks_uri"] == f"{base}/api/auth/jwks"
    assert body["grant_types_supported"] == ["password", "refresh_token"]
    assert body["introspection_endpoint_auth_methods_supported"] == ["client_secret_basic"]
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ISSUER": "https://auth.example.com"}
    assert api.get("/.well-known/oauth-authorization-server").json()["issuer"] == (
        "https://auth.example.com"
    )


# --- RFC 7662 introspection and service clients --------------------------------------------


def basic(client_id: str, secret: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {encoded}"}


def introspect(api: Any, data: dict[str, str], **auth: str) -> Any:
    """POST to the introspection endpoint as RFC 7662 says: a form."""
    return api.post(
        "/api/auth/introspect",
        urlencode(data),
        content_type="application/x-www-form-urlencoded",
        **auth,
    )


@pytest.fixture
def service(db: None) -> tuple[str, str]:
    client, secret = clients.create_client("billing")
    return client.name, secret


def test_the_clients_command_adds_lists_and_removes(db):
    out = StringIO()
    call_command("tokens_clients", "add", "reports", stdout=out)
    secret = out.getvalue().strip().splitlines()[-1]
    assert len(secret) >= 43
    assert clients.authenticate_client("reports", secret) is not None
    assert secret not in ServiceClient.objects.get().secret_hash
    listing = StringIO()
    call_command("tokens_clients", "list", stdout=listing)
    assert "reports  active" in listing.getvalue()
    with pytest.raises(CommandError, match="already exists"):
        call_command("tokens_clients", "add", "reports", stdout=StringIO())
    with pytest.raises(CommandError, match="not a valid client id"):
        call_command("tokens_clients", "add", "no spaces", stdout=StringIO())
    call_command("tokens_clients", "remove", "reports", stdout=StringIO())
    assert clients.authenticate_client("reports", secret) is None
    with pytest.raises(CommandError, match="No service client"):
        call_command("tokens_clients", "remove", "reports", stdout=StringIO())


@pytest.mark.parametrize(
    "auth",
    [
        {},
        {"HTTP_AUTHORIZATION": "Bearer abc"},
        {"HTTP_AUTHORIZATION": "Basic !!!"},
        {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"no-colon").decode()},
        basic("billing", "wrong"),
        basic("nobody", "wrong"),
    ],
)
def test_introspection_needs_a_client(api, service, auth):
    response = introspect(api, {"token": "x"}, **auth)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")
    assert set(response.json()) == {"code", "detail"}
    assert response.json()["code"] in ("not_authenticated", "invalid_client")


def test_an_inactive_client_is_refused(api, service):
    ServiceClient.objects.update(is_active=False)
    response = introspect(api, {"token": "x"}, **basic(*service))
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_client"


def test_introspection_describes_a_live_token_and_refuses_it_once_revoked(api, user, service):
    body = login(api)
    response = introspect(api, {"token": body["access_token"]}, **basic(*service))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    answer = response.json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert answer["active"] is True
    assert answer["sub"] == str(user.pk)
    assert answer["username"] == "alice"
    assert (answer["exp"], answer["iat"], answer["sid"]) == (
        claims["exp"],
        claims["iat"],
        claims["sid"],
    )
    assert answer["token_type"] == "access_token"
    refresh = introspect(
        api,
        {"token": body["refresh_token"], "token_type_hint": "refresh_token"},
        **basic(*service),
    ).json()
    assert (refresh["active"], refresh["token_type"]) == (True, "refresh_token")

    assert api.post("/api/auth/logout", **bearer(body["access_token"])).status_code in (200, 204)
    for raw in (body["access_token"], body["refresh_token"]):
        gone = introspect(api, {"token": raw}, **basic(*service))
        assert gone.json() == {"active": False}


def test_a_rotated_away_refresh_token_inside_the_grace_window_is_active(api, user, service):
    body = login(api)
    api.post("/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json")
    # A refresh with it would still succeed (the grace window), so it is active.
    answer = introspect(api, {"token": body["refresh_token"]}, **basic(*service))
    assert answer.json()["active"] is True


def test_a_rotated_away_refresh_token_past_the_grace_window_is_inactive(
    api, user, service, settings
):
    settings.TOKENS = {**settings.TOKENS, "ROTATION_GRACE_PERIOD": 0}
    body = login(api)
    api.post("/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json")
    answer = introspect(api, {"token": body["refresh_token"]}, **basic(*service))
    assert answer.json() == {"active": False}


def test_a_successor_whose_rotation_a_failover_lost_is_active_as_its_refresh_succeeds(
    api, user, service
):
    body = login(api)
    store = get_store()
    assert isinstance(store, RedisStore)  # the Redis record is what a failover rolls back
    key = store.user_key(str(user.pk))
    session_id = jwt.decode(body["access_token"], options={"verify_signature": False})["sid"]
    before = store.redis.hget(key, session_id)
    successor = api.post(
        "/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json"
    ).json()
    # The replica that took over never saw the rotation: the record is back at the parent.
    store.redis.hset(key, session_id, before)
    answer = introspect(api, {"token": successor["refresh_token"]}, **basic(*service))
    assert answer.json()["active"] is True
    refreshed = api.post(
        "/api/auth/refresh", {"refresh_token": successor["refresh_token"]}, format="json"
    )
    assert refreshed.status_code == 200


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c"])
def test_introspection_of_nonsense(api, service, token):
    response = introspect(api, {"token": token}, **basic(*service))
    if token:
        assert response.json() == {"active": False}
    else:
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_request"


def test_the_admin_shows_a_new_client_s_secret_once(client, db, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-12345678")
    client.force_login(admin)
    response = client.post(
        "/admin/tokens/serviceclient/add/", {"name": "search", "is_active": "on"}, follow=True
    )
    assert response.status_code == 200
    text = response.content.decode()
    secret = text.split("shown only now: <code>")[1].split("</code>")[0]
    assert clients.authenticate_client("search", secret) is not None
    assert secret not in client.get("/admin/tokens/serviceclient/").content.decode()


# --- Session-ended events ------------------------------------------------------------------


def sid_of(body: dict[str, Any]) -> str:
    return jwt.decode(body["access_token"], options={"verify_signature": False})["sid"]


def test_ended_sessions_are_published_and_become_signals(api, user, settings, redis_server):
    heard: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        heard.append(kwargs)

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 10
        while len(heard) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    resource_events.session_ended.connect(receiver)
    stop, ready = threading.Event(), threading.Event()
    listener = threading.Thread(
        target=resource_events.listen, args=(stop,), kwargs={"ready": ready}
    )
    listener.start()
    try:
        assert ready.wait(10)
        body = login(api)
        api.post("/api/auth/logout", **bearer(body["access_token"]))
        wait_for(1)
        assert heard == [
            {
                "signal": resource_events.session_ended,
                "user_id": str(user.pk),
                "session_id": sid_of(body),
                "reason": "logout",
                "at": heard[0]["at"],
            }
        ]
        # Logging out everywhere is one message, and a signal per session.
        bodies = [login(api) for _ in range(3)]
        api.post("/api/auth/logout-all", **bearer(bodies[0]["access_token"]))
        wait_for(4)
        assert {h["session_id"] for h in heard[1:]} == {sid_of(b) for b in bodies}
        assert {h["reason"] for h in heard[1:]} == {"logout_all"}
    finally:
        stop.set()
        listener.join(10)
        resource_events.session_ended.disconnect(receiver)


def test_the_listener_subscribes_again_after_redis_restarts(settings, tmp_path):
    from tests.harness import RedisServer

    own = RedisServer(tmp_path)
    own.start()
    settings.CACHES = {
        **settings.CACHES,
        "events": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{own.port}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        },
    }
    settings.TOKENS_RESOURCE = {"EVENTS_CACHE_ALIAS": "events"}
    heard: list[str] = []
    stop, ready = threading.Event(), threading.Event()
    listener = threading.Thread(
        target=resource_events.listen,
        args=(stop,),
        kwargs={"ready": ready, "on_event": lambda e: heard.extend(e["session_ids"])},
    )
    listener.start()
    try:
        assert ready.wait(10)
        own.stop()
        own.start()
        message = json.dumps({"event": "session_ended", "user_id": "1", "session_ids": ["s1"]})
        deadline = time.monotonic() + 15
        while not heard and time.monotonic() < deadline:
            # Published until the listener is subscribed again (pub/sub keeps nothing).
            own.client().publish("tokens:events", message)
            time.sleep(0.2)
        assert heard[:1] == ["s1"]
    finally:
        stop.set()
        listener.join(10)
        own.stop()


def test_a_failed_publish_does_not_stop_a_logout(api, user, settings, caplog):
    settings.CACHES = {
        **settings.CACHES,
        "nowhere": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        },
    }
    settings.TOKENS = {**settings.TOKENS, "EVENTS_CACHE_ALIAS": "nowhere"}
    body = login(api)
    response = api.post("/api/auth/logout", **bearer(body["access_token"]))
    assert response.status_code in (200, 204)
    assert api.get("/api/auth/sessions", **bearer(body["access_token"])).status_code == 401
    assert "Could not publish the end of session(s)" in caplog.text
