"""A social login end to end: a real OpenID Connect provider, allauth's openid_connect provider.

The provider is django-oauth-toolkit with OIDC enabled (tests/oidc_provider), in its own
gunicorn on loopback. A "mobile app" drives its authorization-code flow over real HTTP (the
provider's login form, its consent page, PKCE, the token endpoint), then hands the id token to
allauth's app client: `POST /_allauth/app/v1/auth/provider/token`, the flow allauth offers app
clients (allauth fetches the provider's discovery document and keys itself and checks the
token's signature, issuer and audience). The sign-in ends in one of the app's sessions.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.harness import OIDCProvider

pytestmark = pytest.mark.live

CLIENT_ID = "allauth-test-site"
CLIENT_SECRET = "provider-client-secret-for-tests"
# The app's own redirect URI: it reads the code from it and is never served.
REDIRECT_URI = "http://127.0.0.1/app-callback"
DAVE = {"username": "dave", "password": "dave-at-the-Provider-42", "email": "dave@corp.example"}
UA = "oidc-test-app/1.0"


class _Form(HTMLParser):
    """Collect a page's form inputs (name -> value)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "input" and named.get("name") and named.get("type") != "submit":
            self.fields[str(named["name"])] = named.get("value") or ""


def form_fields(page: str) -> dict[str, str]:
    """Return the form inputs of an HTML page."""
    parser = _Form()
    parser.feed(page)
    return parser.fields


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OIDCProvider]:
    """A django-oauth-toolkit OIDC provider in its own gunicorn, with dave and one client."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with OIDCProvider(
        tmp_path_factory.mktemp("oidc-provider"),
        username=DAVE["username"],
        password=DAVE["password"],
        email=DAVE["email"],
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        rsa_private_key=pem,
    ) as running:
        yield running


def id_token_from(provider: OIDCProvider) -> str:
    """Sign dave in at the provider (login form, consent) with PKCE; return the id token."""
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    state = secrets.token_urlsafe(12)
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email profile",
        "state": state,
        "nonce": secrets.token_urlsafe(12),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    with httpx.Client(base_url=provider.url, follow_redirects=False, timeout=10) as browser:
        authorize = browser.get("/o/authorize/", params=params)
        assert authorize.status_code == 302, authorize.text
        login_url = urljoin(provider.url, authorize.headers["location"])
        assert urlparse(login_url).path == "/accounts/login/"
        login_page = browser.get(login_url)
        assert login_page.status_code == 200
        fields = form_fields(login_page.text)
        fields.update(username=DAVE["username"], password=DAVE["password"])
        logged_in = browser.post(login_url, data=fields)
        assert logged_in.status_code == 302, logged_in.text
        consent_url = urljoin(provider.url, logged_in.headers["location"])
        consent = browser.get(consent_url)
        assert consent.status_code == 200, consent.text
        assert "allauth test site" in consent.text
        answer = form_fields(consent.text)
        answer["allow"] = "Authorize"
        granted = browser.post(consent_url, data=answer)
        assert granted.status_code == 302, granted.text
    back = urlparse(granted.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT_URI
    query = parse_qs(back.query)
    assert query["state"] == [state]
    token = httpx.post(
        provider.url + "/o/token/",
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": REDIRECT_URI,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "code_verifier": verifier,
        },
        timeout=10,
    )
    assert token.status_code == 200, token.text
    id_token: str = token.json()["id_token"]
    return id_token


@pytest.fixture
def site(gunicorn_servers: Any, provider: OIDCProvider, transactional_db: None) -> Any:
    """The demo site in gunicorn, with the provider as its OpenID Connect provider "oidc"."""
    return gunicorn_servers(
        workers=2,
        OIDC_SERVER_URL=provider.issuer,
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET=CLIENT_SECRET,
    )


def test_an_openid_connect_login_ends_in_one_of_the_apps_sessions(site, provider):
    app = httpx.Client(base_url=site.url, timeout=10, headers={"User-Agent": UA})
    config = app.get("/_allauth/app/v1/config").json()
    providers = config["data"]["socialaccount"]["providers"]
    # allauth offers this provider to app clients by token.
    assert [(p["id"], "provider_token" in p["flows"]) for p in providers] == [("oidc", True)]

    login = app.post(
        "/_allauth/app/v1/auth/provider/token",
        json={
            "provider": "oidc",
            "process": "login",
            "token": {"client_id": CLIENT_ID, "id_token": id_token_from(provider)},
        },
    )
    assert login.status_code == 200, login.text
    body = login.json()
    assert body["data"]["user"]["email"] == DAVE["email"]
    meta = body["meta"]
    access, refresh = meta["access_token"], meta["refresh_token"]

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    # One of the app's sessions, with the app's user agent; the token opens allauth's endpoints.
    sessions = app.get("/api/auth/sessions", headers=bearer(access)).json()
    assert [(s["user_agent"], s["current"]) for s in sessions] == [(UA, True)]
    me = app.get("/_allauth/app/v1/auth/session", headers=bearer(access))
    assert me.status_code == 200, me.text
    emails = app.get("/_allauth/app/v1/account/email", headers=bearer(access)).json()["data"]
    assert [(e["email"], e["verified"]) for e in emails] == [(DAVE["email"], True)]

    # Refresh through allauth's endpoint, then the app's; then the first token again is reuse.
    second = app.post("/_allauth/app/v1/tokens/refresh", json={"refresh_token": refresh})
    assert second.status_code == 200, second.text
    third = app.post(
        "/api/auth/refresh", json={"refresh_token": second.json()["data"]["refresh_token"]}
    )
    assert third.status_code == 200, third.text
    latest = third.json()
    replay = app.post("/_allauth/app/v1/tokens/refresh", json={"refresh_token": refresh})
    assert replay.status_code == 400
    assert app.get("/api/auth/sessions", headers=bearer(latest["access_token"])).status_code == 401
    assert (
        app.get("/_allauth/app/v1/auth/session", headers=bearer(latest["access_token"])).status_code
        == 401
    )

    # A second sign-in with the provider finds dave's account: a new session, then allauth's
    # logout ends it on the app's side at once.
    again = app.post(
        "/_allauth/app/v1/auth/provider/token",
        json={
            "provider": "oidc",
            "process": "login",
            "token": {"client_id": CLIENT_ID, "id_token": id_token_from(provider)},
        },
    )
    assert again.status_code == 200, again.text
    access = again.json()["meta"]["access_token"]
    assert again.json()["data"]["user"]["id"] == body["data"]["user"]["id"]
    out = app.delete("/_allauth/app/v1/auth/session", headers=bearer(access))
    assert out.status_code == 401
    assert app.get("/api/auth/sessions", headers=bearer(access)).status_code == 401


def test_a_forged_id_token_is_refused_and_starts_no_session(site, provider):
    # Signed by a key the provider never published. (It names a key id: allauth 65.22 answers
    # 500 to an id token without one, a KeyError in its jwtkit.fetch_key.)
    import jwt

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        {
            "iss": provider.issuer,
            "aud": CLIENT_ID,
            "sub": "1",
            "email": DAVE["email"],
            "email_verified": True,
            "exp": 4102444800,
            "iat": 1700000000,
        },
        key,
        algorithm="RS256",
        headers={"kid": "forged-key"},
    )
    response = httpx.post(
        site.url + "/_allauth/app/v1/auth/provider/token",
        json={
            "provider": "oidc",
            "process": "login",
            "token": {"client_id": CLIENT_ID, "id_token": forged},
        },
        timeout=10,
    )
    assert response.status_code == 400, response.text
    assert "access_token" not in response.json().get("meta", {})
