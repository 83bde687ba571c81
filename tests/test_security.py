"""The security matrix: every way we know to forge, replay or choke a token is refused.

Each case asserts the status and the `code` a client sees. Hostile bodies and headers get a
clear 4xx in JSON, never a 500, and a worker's memory stays bounded while refusing them.
"""

import base64
import hashlib
import hmac
import json
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from django.conf import settings as django_settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from tests.conftest import PASSWORD, bearer, login

pytestmark = pytest.mark.django_db

INFO = "/api/user/info"
REFRESH = "/api/auth/refresh"


# --- Helpers -------------------------------------------------------------------------------


def b64(data: bytes | dict) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def sign(payload: dict, key: str | None = None, alg: str = "HS256") -> str:
    return jwt.encode(payload, key or str(django_settings.SIMPLE_JWT["SIGNING_KEY"]), alg)


def edited(token: str, **changes) -> str:
    """Return the token with its payload changed and its old signature kept."""
    header, _, signature = token.split(".")
    return ".".join([header, b64({**claims(token), **changes}), signature])


def use_access(api, token: str):
    return api.get(INFO, **bearer(token))


def use_refresh(api, token: str):
    return api.post(REFRESH, {"refresh_token": token}, format="json")


def refused_access(api, token: str, code: str = "access_token_invalid") -> None:
    response = use_access(api, token)
    assert response.status_code == 401, response.content
    assert response.json()["code"] == code
    assert response["WWW-Authenticate"].startswith("Bearer")


def refused_refresh(api, token: str, code: str = "refresh_token_invalid") -> None:
    response = use_refresh(api, token)
    assert response.status_code == 403, response.content
    assert response.json()["code"] == code


@pytest.fixture
def pair(api, user) -> dict:
    return login(api)


# --- Forged and edited tokens --------------------------------------------------------------


def test_alg_none_is_refused(api, pair):
    for token, refuse in ((pair["access_token"], refused_access), (pair["refresh_token"], None)):
        forged = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims(token))}."
        if refuse:
            refuse(api, forged)
        else:
            refused_refresh(api, forged)


def test_hs256_signed_with_another_key_is_refused(api, pair):
    other = "another-key-entirely-at-least-32-bytes-long"
    refused_access(api, sign(claims(pair["access_token"]), other))
    refused_refresh(api, sign(claims(pair["refresh_token"]), other))


def test_expired_tokens_are_refused(api, pair):
    past = int(time.time()) - 60
    refused_access(api, sign({**claims(pair["access_token"]), "exp": past}), "access_token_expired")
    refused_refresh(
        api, sign({**claims(pair["refresh_token"]), "exp": past}), "refresh_token_expired"
    )


def test_not_before_in_the_future_is_refused(api, pair):
    later = int(time.time()) + 3600
    refused_access(api, sign({**claims(pair["access_token"]), "nbf": later}))
    refused_refresh(api, sign({**claims(pair["refresh_token"]), "nbf": later}))


@pytest.mark.parametrize("token_type", [None, "", "id", "ACCESS"])
def test_missing_or_wrong_token_type_is_refused(api, pair, token_type):
    for name, refuse in (("access_token", refused_access), ("refresh_token", refused_refresh)):
        payload = claims(pair[name])
        if token_type is None:
            del payload["token_type"]
        else:
            payload["token_type"] = token_type
        refuse(api, sign(payload))


def test_refresh_token_is_no_access_token_and_the_reverse(api, pair):
    refused_access(api, pair["refresh_token"])
    refused_refresh(api, pair["access_token"])
    # Neither use harmed the session.
    assert use_access(api, pair["access_token"]).status_code == 200
    assert use_refresh(api, pair["refresh_token"]).status_code == 200


@pytest.mark.parametrize(
    ("claim", "value"), [("user_id", 999), ("sid", "someone-elses"), ("exp", 4102444800)]
)
def test_payload_edited_under_the_old_signature_is_refused(api, pair, claim, value):
    refused_access(api, edited(pair["access_token"], **{claim: value}))
    refused_refresh(api, edited(pair["refresh_token"], **{claim: value}))
    assert use_access(api, pair["access_token"]).status_code == 200


def test_validly_signed_token_without_a_session_id_is_refused(api, pair):
    for name, refuse in (("access_token", refused_access), ("refresh_token", refused_refresh)):
        payload = claims(pair[name])
        del payload["sid"]
        refuse(api, sign(payload))


def test_a_token_minted_under_a_lifetime_already_over_expires_by_its_own_exp(api, user, settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ACCESS_TOKEN_LIFETIME": timedelta(seconds=-1)}
    refused_access(api, login(api)["access_token"], "access_token_expired")


def test_valid_token_naming_another_users_session_is_refused(api, pair, make_user):
    make_user("bob")
    bob = login(api, "bob")
    # Correctly signed (as with a leaked key): alice's user id, bob's session id.
    access = sign({**claims(pair["access_token"]), "sid": claims(bob["access_token"])["sid"]})
    refresh = sign({**claims(pair["refresh_token"]), "sid": claims(bob["refresh_token"])["sid"]})
    refused_access(api, access, "session_revoked")
    refused_refresh(api, refresh, "session_revoked")
    # Bob's session is untouched: no false reuse detection, no revocation.
    assert use_access(api, bob["access_token"]).status_code == 200
    assert use_refresh(api, bob["refresh_token"]).status_code == 200


def test_tokens_of_a_deleted_user_are_refused(api, pair, user):
    user.delete()
    refused_access(api, pair["access_token"], "session_revoked")
    refused_refresh(api, pair["refresh_token"], "session_revoked")


def test_tokens_of_a_user_deleted_behind_the_sites_back_are_refused(api, pair, user):
    # A raw SQL delete sends no signal, so the session is still in Redis.
    type(user).objects.filter(pk=user.pk)._raw_delete(using="default")
    refused_access(api, pair["access_token"], "session_revoked")
    refused_refresh(api, pair["refresh_token"], "session_revoked")


def test_replay_after_logout_is_refused(api, pair):
    assert api.post("/api/auth/logout", **bearer(pair["access_token"])).status_code == 200
    refused_access(api, pair["access_token"], "session_revoked")
    refused_refresh(api, pair["refresh_token"], "session_revoked")


def test_replay_after_the_grace_window_ends_the_session(api, pair, settings):
    settings.TOKENS = {**settings.TOKENS, "ROTATION_GRACE_PERIOD": timedelta(0)}
    successor = use_refresh(api, pair["refresh_token"]).json()
    refused_refresh(api, pair["refresh_token"], "refresh_token_reused")
    # The thief's replay ended the session for everyone holding its tokens.
    refused_refresh(api, successor["refresh_token"], "session_revoked")
    refused_access(api, successor["access_token"], "session_revoked")


# --- Time claims of odd types, correctly signed ------------------------------------------

# A token signed with the site's key (a leaked key, or a bug of ours) whose time claims are not
# the integers RFC 7519 asks for: each one is refused like any invalid token, never a 500.
ODD_TIMES = [
    ("exp", "9999999999"),
    ("exp", "soon"),
    ("exp", 10**30),
    ("exp", -(10**30)),
    ("exp", 1e300),
    ("exp", float("inf")),
    ("exp", float("nan")),
    ("exp", None),
    ("exp", [1]),
    ("exp", {"at": 1}),
    ("iat", "0"),
    ("iat", 10**30),
    ("iat", float("inf")),
    ("iat", [1]),
    ("nbf", "0"),
    ("nbf", 10**30),
    ("nbf", float("-inf")),
    ("nbf", {"at": 1}),
]


def oddly_timed(token: str, claim: str, value: object) -> str:
    return sign({**claims(token), claim: value})


# PyJWT reads an `exp` of -10**30 as long past: expired is the invalid token's other answer.
INVALID_ACCESS = {"access_token_invalid", "access_token_expired"}
INVALID_REFRESH = {"refresh_token_invalid", "refresh_token_expired"}


@pytest.mark.parametrize(("claim", "value"), ODD_TIMES)
def test_odd_time_claims_are_refused_everywhere_like_any_invalid_token(api, pair, claim, value):
    access = oddly_timed(pair["access_token"], claim, value)
    refresh = oddly_timed(pair["refresh_token"], claim, value)

    response = use_access(api, access)
    assert response.status_code == 401, response.content
    assert response.json()["code"] in INVALID_ACCESS
    assert response["WWW-Authenticate"].startswith("Bearer")
    response = use_refresh(api, refresh)
    assert (response.status_code, response.json()["code"] in INVALID_REFRESH) == (403, True)
    response = api.post("/api/auth/logout", {"refresh_token": refresh}, format="json")
    assert (response.status_code, response.json()["code"] in INVALID_REFRESH) == (403, True)
    response = api.post("/api/auth/logout", **bearer(access))
    assert (response.status_code, response.json()["code"] in INVALID_ACCESS) == (401, True)
    response = api.post(
        "/api/auth/token", {"grant_type": "refresh_token", "refresh_token": refresh}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_grant"
    assert response.json()["code"] in INVALID_REFRESH
    # RFC 7009: revoking something that is not a valid token answers 200 and ends nothing.
    for token in (access, refresh):
        assert api.post("/api/auth/revoke", {"token": token}, format="json").status_code == 200
    assert use_access(api, pair["access_token"]).status_code == 200
    assert use_refresh(api, pair["refresh_token"]).status_code == 200


# --- RS256 sites: no algorithm confusion --------------------------------------------------


def rsa_pair(directory: Path) -> tuple[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    private = directory / "private.pem"
    genpkey = ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
    subprocess.run([*genpkey, "-quiet", "-out", str(private)], check=True)
    public = subprocess.run(
        ["openssl", "pkey", "-in", str(private), "-pubout"], capture_output=True, check=True
    ).stdout
    return private.read_text(), public.decode()


@pytest.fixture
def rs256(settings, tmp_path):
    private, public = rsa_pair(tmp_path)
    settings.SIMPLE_JWT = {
        **settings.SIMPLE_JWT,
        "ALGORITHM": "RS256",
        "SIGNING_KEY": private,
        "VERIFYING_KEY": public,
    }
    return public


def hs256_by_hand(payload: dict, secret: bytes) -> str:
    # PyJWT refuses to use a PEM key as an HMAC secret, which is exactly what an attacker does.
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(payload)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def test_rs256_site_refuses_hs256_signed_with_its_public_key(api, user, rs256, tmp_path):
    pair = login(api)
    assert jwt.get_unverified_header(pair["access_token"])["alg"] == "RS256"
    assert use_access(api, pair["access_token"]).status_code == 200
    for secret in (rs256.encode(), rs256.strip().encode()):
        refused_access(api, hs256_by_hand(claims(pair["access_token"]), secret))
        refused_refresh(api, hs256_by_hand(claims(pair["refresh_token"]), secret))
    # Nor HS256 with the site's old shared secret, nor none, nor another RSA key.
    refused_access(api, sign(claims(pair["access_token"]), django_settings.SECRET_KEY))
    refused_access(api, f"{b64({'alg': 'none'})}.{b64(claims(pair['access_token']))}.")
    other_private, _ = rsa_pair(tmp_path / "other")
    refused_access(api, sign(claims(pair["access_token"]), other_private, "RS256"))
    refused_refresh(api, sign(claims(pair["refresh_token"]), other_private, "RS256"))
    assert use_refresh(api, pair["refresh_token"]).status_code == 200


# --- Hostile bodies and headers ------------------------------------------------------------

JSON_ENDPOINTS = [
    "/api/auth/login",
    "/api/auth/refresh",
    "/api/auth/token",
    "/api/auth/revoke",
    "/api/auth/logout",
]


def post_raw(api, path, body: bytes, content_type="application/json", **extra):
    return api.generic("POST", path, body, content_type=content_type, **extra)


def assert_clear_4xx(response, *codes: str) -> dict:
    assert 400 <= response.status_code < 500, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["code"], str) and body["detail"]
    if codes:
        assert body["code"] in codes, body
    return body


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_deeply_nested_json_is_a_400(api, pair, path):
    # Both fit in the 64 KB body limit and are far deeper than Python's json can recurse.
    for body in (b"[" * 30_000 + b"]" * 30_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000):
        assert len(body) < django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        assert_clear_4xx(post_raw(api, path, body), "invalid_json")


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_ten_megabyte_body_is_a_400(api, pair, path):
    body = b'{"username": "' + b"a" * 10 * 1024 * 1024 + b'"}'
    assert_clear_4xx(post_raw(api, path, body), "bad_request")
    form = b"grant_type=password&username=" + b"a" * 10 * 1024 * 1024
    assert_clear_4xx(
        post_raw(api, path, form, "application/x-www-form-urlencoded"),
        "bad_request",
        "unsupported_media_type",
    )


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_invalid_utf8_and_nul_bytes_are_a_400(api, pair, path):
    assert_clear_4xx(post_raw(api, path, b'{"username": "al\xff\xfeice"}'), "invalid_json")
    assert_clear_4xx(post_raw(api, path, b'{"username": "al\x00ice"}'), "invalid_json")
    assert_clear_4xx(post_raw(api, path, b"\xef\xbb\xbf\x00\x00\x00"), "invalid_json")


def test_nul_bytes_inside_valid_json_are_refused_field_by_field(api, pair):
    for field in ("username", "password"):
        body = {"username": "alice", "password": PASSWORD, field: "al\x00ice"}
        response = api.post("/api/auth/login", body, format="json")
        assert_clear_4xx(response, "invalid_request")
    response = api.post(REFRESH, {"refresh_token": "a.b\x00.c"}, format="json")
    assert_clear_4xx(response, "invalid_request", "refresh_token_invalid")


def test_a_lone_surrogate_in_a_token_is_refused_by_its_field(api, pair):
    # "\ud800" is valid JSON escaping a character no UTF-8 text can hold.
    for path in (REFRESH, "/api/auth/logout"):
        body = ('{"refresh_token": "' + pair["refresh_token"] + '\\ud800"}').encode()
        response = post_raw(api, path, body)
        assert_clear_4xx(response, "invalid_request")
        assert "Surrogate" in str(response.json()["detail"])
    # Nothing was used up: the token still refreshes.
    assert (
        api.post(REFRESH, {"refresh_token": pair["refresh_token"]}, format="json").status_code
        == 200
    )
    form = b"grant_type=password&username=al%00ice&password=x%ff%fe"
    assert_clear_4xx(
        post_raw(api, "/api/auth/token", form, "application/x-www-form-urlencoded"),
        "invalid_request",
    )


@pytest.mark.parametrize(
    "header",
    [
        "Bearer " + "a" * 100 * 1024,
        "Bearer " + ".".join(["eyJ" + "A" * 34 * 1024] * 3),
        "Bearer abc\x00def.ghi.jkl",
        "Bearer \xff\xfe.\xc3\x28.x",
        "Bearer a b c",
        "Bearer",
        "Basic YWxpY2U6cGFzcw==",
    ],
)
def test_garbage_bearer_headers_are_a_401_or_ignored(api, pair, header):
    response = api.get(INFO, HTTP_AUTHORIZATION=header)
    body = assert_clear_4xx(response, "access_token_invalid", "not_authenticated")
    assert response.status_code == 401, body


@pytest.mark.live
def test_hostile_requests_to_gunicorn_get_4xx_with_bounded_memory(gunicorn_servers, live_user):
    # One worker, so the warm-up below surely warms the worker that is then measured.
    server = gunicorn_servers(workers=1)
    big = b'{"username": "' + b"a" * 10 * 1024 * 1024 + b'"}'
    nested = b"[" * 30_000 + b"]" * 30_000
    with httpx.Client(base_url=server.url, timeout=10) as client:
        pair = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
        access = pair.json()["access_token"]
        # Warm the worker up on small requests down the same paths, then take its peak.
        for _ in range(3):
            client.post("/api/auth/login", content=b"[[1]]", headers=JSON)
            client.post("/api/auth/login", content=b"x" * 70_000, headers=JSON)
            client.get("/api/user/info", headers=auth(access))
        before = workers_peak_rss_kb(server.process.pid)
        for _ in range(10):
            response = client.post("/api/auth/login", content=big, headers=JSON)
            assert response.status_code == 400
            assert response.json()["code"] == "bad_request"
            response = client.post("/api/auth/refresh", content=nested, headers=JSON)
            assert response.status_code == 400
            assert response.json()["code"] == "invalid_json"
            # A 100 KB header never reaches Django: gunicorn refuses it (limit_request_field_size).
            response = client.get(
                "/api/user/info", headers={"Authorization": "Bearer " + "a" * 100 * 1024}
            )
            assert 400 <= response.status_code < 500
        growth = workers_peak_rss_kb(server.process.pid) - before
        # The 10 MB bodies were refused unread: the worker's peak memory grew by nothing like it.
        assert growth < 8 * 1024, f"workers' peak memory grew by {growth} KB"
        # The worker is alive and serving.
        for _ in range(3):
            assert client.get(INFO, headers=auth(access)).status_code == 200


JSON = {"Content-Type": "application/json"}


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def live_user(transactional_db, make_user):
    return make_user("alice")


def workers_peak_rss_kb(master_pid: int) -> int:
    """Return the sum of the gunicorn workers' peak resident memory (VmHWM)."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    total = 0
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total


# --- Unknown usernames cost what wrong passwords cost ---------------------------------------


class CountingPBKDF2Hasher(PBKDF2PasswordHasher):
    """PBKDF2 that counts its full-strength runs (the cost a timing attack would measure)."""

    iterations = 1_000
    runs = 0

    def encode(self, password: str, salt: str, iterations: int | None = None) -> str:
        if (iterations or self.iterations) == self.iterations:
            CountingPBKDF2Hasher.runs += 1
        return super().encode(password, salt, iterations)


def test_unknown_username_costs_what_a_wrong_password_costs(api, settings, make_user):
    # Counted, not timed: a busy machine makes timings noisy, a count is exact. The same hasher
    # at the same strength runs once either way, so the two take the same time.
    settings.PASSWORD_HASHERS = ["tests.test_security.CountingPBKDF2Hasher"]
    make_user("alice")

    def hasher_runs(username: str) -> int:
        before = CountingPBKDF2Hasher.runs
        response = api.post(
            "/api/auth/login", {"username": username, "password": "wrong"}, format="json"
        )
        assert response.json()["code"] == "invalid_credentials"
        return CountingPBKDF2Hasher.runs - before

    # Django runs the hasher for unknown users too; without that the unknown one would be 0.
    # Each authentication backend checks once (the demo has two: Django's and allauth's).
    backends = len(settings.AUTHENTICATION_BACKENDS)
    assert hasher_runs("alice") == backends
    assert hasher_runs("nobody") == backends
