"""Sign in once, use every service: the demo site and the example resource service
(examples/resource_service/, its own settings and gunicorn, no database) side by side.

The auth server is started on a port of the test's choosing so that it can be restarted with a
new signing key at the same address, as a site rotating its key would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from django.contrib.auth.base_user import AbstractBaseUser
from joserfc import jwt as jose_jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet
from rest_framework.test import APIClient

from tests.conftest import PASSWORD, ROOT, bearer
from tests.harness import Gunicorn, free_port
from tests.test_sso import hs256_token
from tokens.authserver import clients
from tokens.keys import public_jwk, thumbprint


def auth_server(port: int, signing: Path, retired: Sequence[Path] = (), **more: str) -> Gunicorn:
    """Serve the demo site as the auth server; a restart with a new key passes the same port."""
    env = {
        "SIGNING_KEY_FILE": str(signing),
        "VERIFYING_KEY_FILES": os.pathsep.join(map(str, retired)),
        **more,
    }
    return Gunicorn(
        {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **env},
        port=port,
        ready_path="/api/auth/jwks",
        workers=2,
    )


def resource_service(auth: Gunicorn, workers: int = 2, **env: str) -> Gunicorn:
    env = {
        "DJANGO_SETTINGS_MODULE": "resource_service.settings",
        "AUTH_SERVER_URL": auth.url,
        **env,
    }
    return Gunicorn(
        {**os.environ, **env},
        app="resource_service.wsgi:application",
        cwd=ROOT / "examples",
        ready_path="/health",
        workers=workers,
    )


def write_key(path: Path, key: Any) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Any]:
    old = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    new = ed25519.Ed25519PrivateKey.generate()
    return {
        "old": old,
        "new": new,
        "old_file": write_key(tmp_path / "old.pem", old),
        "new_file": write_key(tmp_path / "new.pem", new),
        "old_kid": thumbprint(public_jwk(old, "RS256")),
        "new_kid": thumbprint(public_jwk(new, "EdDSA")),
    }


@pytest.fixture
def servers() -> Iterator[list[Gunicorn]]:
    started: list[Gunicorn] = []
    yield started
    for server in started:
        server.stop()


def log_in(http: httpx.Client, auth: Gunicorn) -> dict[str, Any]:
    response = http.post(
        f"{auth.url}/api/auth/login", json={"username": "alice", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return response.json()


def whoami(http: httpx.Client, service: Gunicorn, token: str) -> httpx.Response:
    return http.get(f"{service.url}/api/whoami", headers={"Authorization": f"Bearer {token}"})


def kid(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def refused(response: httpx.Response, code: str) -> bool:
    return response.status_code == 401 and response.json()["code"] == code


@pytest.mark.live
def test_one_login_every_service_key_rotation_and_logout_in_the_shared_store(
    transactional_db: None, make_user: Any, keys: dict[str, Any], servers: list[Gunicorn]
) -> None:
    user = make_user()
    port = free_port()
    # The shared-store mode reads the auth server's Redis store (whatever TOKENS_TEST_STORE says).
    auth = auth_server(port, keys["old_file"], TOKENS_TEST_STORE="redis")
    servers.append(auth)
    service = resource_service(auth, LIVENESS="store")
    servers.append(service)

    with httpx.Client(timeout=10) as http:
        body = log_in(http, auth)
        assert kid(body["access_token"]) == keys["old_kid"]
        answer = whoami(http, service, body["access_token"])
        assert answer.status_code == 200, answer.text
        sid = jwt.decode(body["access_token"], options={"verify_signature": False})["sid"]
        assert answer.json() == {"user_id": str(user.pk), "session_id": sid, "service": "demo"}

        # A generic JOSE library verifies the token from the published JWK Set.
        key_set = KeySet.import_key_set(http.get(f"{auth.url}/api/auth/jwks").json())
        verified = jose_jwt.decode(body["access_token"], key_set, algorithms=["RS256"])
        jose_jwt.JWTClaimsRegistry(exp={"essential": True}).validate(verified.claims)
        assert verified.claims["sid"] == sid

        refreshed = http.post(
            f"{auth.url}/api/auth/refresh", json={"refresh_token": body["refresh_token"]}
        )
        assert refreshed.status_code == 200
        body = refreshed.json()
        assert whoami(http, service, body["access_token"]).status_code == 200
        last_fetch = time.monotonic()  # the latest moment a service worker fetched the JWK Set

        # Rotate: the auth server restarts signing with a new key, the old one retired.
        auth.stop()
        servers.remove(auth)
        auth = auth_server(
            port, keys["new_file"], retired=[keys["old_file"]], TOKENS_TEST_STORE="redis"
        )
        servers.append(auth)
        old_access = body["access_token"]
        assert whoami(http, service, old_access).status_code == 200
        sessions = http.get(f"{auth.url}/api/auth/sessions", headers=bearer_header(old_access))
        assert sessions.status_code == 200
        refreshed = http.post(
            f"{auth.url}/api/auth/refresh", json={"refresh_token": body["refresh_token"]}
        )
        assert refreshed.status_code == 200, refreshed.text
        body = refreshed.json()
        assert kid(body["access_token"]) == keys["new_kid"]
        # The service has not seen this kid yet: it fetches the JWK Set again, once
        # JWKS_MIN_REFETCH_SECONDS (1 s) has passed since its last fetch. A key that signs
        # unannounced, as here, waits that long; docs/sso.md has the next key published first.
        time.sleep(max(0.0, last_fetch + 1.05 - time.monotonic()))
        assert whoami(http, service, body["access_token"]).status_code == 200
        key_set = KeySet.import_key_set(http.get(f"{auth.url}/api/auth/jwks").json())
        # joserfc verifies it, warning that RFC 9864 deprecates the name "EdDSA" (in favour of
        # "Ed25519", which PyJWT does not know yet: docs/sso.md).
        with pytest.warns(SecurityWarning, match="RFC 9864"):
            jose_jwt.decode(body["access_token"], key_set, algorithms=["EdDSA"])

        claims = jwt.decode(body["access_token"], options={"verify_signature": False})
        # The token names the auth server's origin as its issuer, which the service requires
        # by default (its JWKS URL's origin): signed with the right key, another issuer, or
        # none, is refused.
        assert claims["iss"] == auth.url
        for iss in ("https://staging.example.com", None):
            other = {k: v for k, v in {**claims, "iss": iss}.items() if v is not None}
            foreign = jwt.encode(
                other, keys["new"], algorithm="EdDSA", headers={"kid": keys["new_kid"]}
            )
            assert refused(whoami(http, service, foreign), "access_token_invalid")
        # An unknown kid: refused by both.
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "unknown"})
        assert refused(whoami(http, service, forged), "access_token_invalid")
        assert refused(
            http.get(f"{auth.url}/api/auth/sessions", headers=bearer_header(forged)),
            "access_token_invalid",
        )
        # alg confusion: HS256 "signed" with a published public key, under that key's kid.
        public = (
            keys["old"]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        confused = hs256_token(
            {"alg": "HS256", "typ": "JWT", "kid": keys["old_kid"]}, claims, public
        )
        assert refused(whoami(http, service, confused), "access_token_invalid")
        assert refused(
            http.get(f"{auth.url}/api/auth/sessions", headers=bearer_header(confused)),
            "access_token_invalid",
        )
        # The retired key's token after its expiry.
        late = {**claims, "iat": int(time.time()) - 120, "exp": int(time.time()) - 60}
        expired = jwt.encode(late, keys["old"], algorithm="RS256", headers={"kid": keys["old_kid"]})
        assert refused(whoami(http, service, expired), "access_token_expired")
        assert refused(
            http.get(f"{auth.url}/api/auth/sessions", headers=bearer_header(expired)),
            "access_token_expired",
        )

        # Log out: the service refuses the session at once.
        assert http.post(
            f"{auth.url}/api/auth/logout", headers=bearer_header(body["access_token"])
        ).status_code in (200, 204)
        assert refused(whoami(http, service, body["access_token"]), "session_revoked")
        assert refused(whoami(http, service, old_access), "session_revoked")
        # Without a token: 401, no user table needed.
        anonymous = http.get(f"{service.url}/api/whoami")
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")


def bearer_header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.live
def test_introspection_mode_refuses_an_ended_session_within_the_cache_time(
    transactional_db: None, make_user: Any, keys: dict[str, Any], servers: list[Gunicorn]
) -> None:
    make_user()
    client, secret = clients.create_client("whoami-service")
    auth = auth_server(free_port(), keys["new_file"])
    servers.append(auth)
    cache_seconds = 2.0
    service = resource_service(
        auth,
        workers=1,
        LIVENESS="introspection",
        CLIENT_ID=client.name,
        CLIENT_SECRET=secret,
        INTROSPECTION_CACHE_SECONDS=str(cache_seconds),
    )
    servers.append(service)
    wrong = resource_service(
        auth, workers=1, LIVENESS="introspection", CLIENT_ID=client.name, CLIENT_SECRET="nope"
    )
    servers.append(wrong)

    with httpx.Client(timeout=10) as http:
        body = log_in(http, auth)
        assert whoami(http, service, body["access_token"]).status_code == 200
        # A service whose credentials the auth server refuses cannot tell: 503, never a 200.
        unsure = whoami(http, wrong, body["access_token"])
        assert unsure.status_code == 503
        assert unsure.json()["code"] == "auth_server_unavailable"

        logged_out_at = time.monotonic()
        http.post(f"{auth.url}/api/auth/logout", headers=bearer_header(body["access_token"]))
        deadline = logged_out_at + cache_seconds + 5
        while True:
            answer = whoami(http, service, body["access_token"])
            if answer.status_code != 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert refused(answer, "session_revoked")


def test_the_listen_command_hears_an_ended_session(user: AbstractBaseUser, api: APIClient) -> None:
    listener = subprocess.Popen(
        [sys.executable, "-m", "django", "tokens_listen", "--count", "1"],
        cwd=ROOT / "examples",
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "resource_service.settings"},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert listener.stdout is not None
        assert listener.stdout.readline().strip() == "Listening."
        body = api.post(
            "/api/auth/login", {"username": "alice", "password": PASSWORD}, format="json"
        ).json()
        sid = jwt.decode(body["access_token"], options={"verify_signature": False})["sid"]
        api.post("/api/auth/logout", **bearer(body["access_token"]))
        line = listener.stdout.readline().strip()
        assert line == f"session_ended user={user.pk} sessions={sid} reason=logout"
        assert listener.wait(10) == 0
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()
        if listener.stdout is not None:
            listener.stdout.close()
