"""Passkeys through django-allauth headless, ending in the app's sessions, in process.

The authenticator is real: a software one written here, with its own P-256 key (`cryptography`),
that answers allauth's WebAuthn options as a browser and a platform authenticator would. It
builds the attestation object ("none" attestation) and the assertions with fido2's data classes
and CBOR, and signs authenticatorData + sha256(clientDataJSON). allauth verifies them with fido2,
unmocked. The site is the demo's: passkeys on, passkey login on, origins checked (no
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN).
"""

from __future__ import annotations

import os
from hashlib import sha256
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client
from fido2 import cbor
from fido2.cose import ES256
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import (
    AttestationObject,
    AttestedCredentialData,
    AuthenticatorData,
    CollectedClientData,
)

from tests.conftest import PASSWORD
from tests.test_allauth import (
    allauth_login,
    assert_full_session_life,
    call,
    my_sessions,
)

# WebAuthn wants a secure context: https, or http on localhost (as browsers treat it). The demo
# run at http://localhost:8000: allauth takes the request's host as the RP ID.
HOST = "localhost:8000"
ORIGIN = "http://localhost:8000"
RP_ID = "localhost"
FLAGS = AuthenticatorData.FLAG


class SoftwareAuthenticator:
    """Make and use one passkey, as a browser with a platform authenticator does."""

    def __init__(self, origin: str = ORIGIN) -> None:
        """Make a fresh P-256 key pair and credential id; `origin` is the page's origin."""
        self.origin = origin
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.user_handle = b""
        self.rp_id = ""
        self.counter = 0

    def create(self, creation_options: dict[str, Any]) -> dict[str, Any]:
        """Answer `navigator.credentials.create()`: the RegistrationResponseJSON."""
        options = creation_options["publicKey"]
        assert -7 in [p["alg"] for p in options["pubKeyCredParams"]]  # ES256 offered
        self.rp_id = options["rp"]["id"]
        self.user_handle = websafe_decode(options["user"]["id"])
        client_data = CollectedClientData.create(
            type=CollectedClientData.TYPE.CREATE,
            challenge=options["challenge"],
            origin=self.origin,
        )
        credential = AttestedCredentialData.create(
            b"\0" * 16,  # a "none" attestation names no model
            self.credential_id,
            ES256.from_cryptography_key(self.key.public_key()),
        )
        auth_data = AuthenticatorData.create(
            sha256(self.rp_id.encode()).digest(),
            FLAGS.UP | FLAGS.UV | FLAGS.AT,
            self.counter,
            credential,
        )
        attestation = AttestationObject(
            cbor.encode({"fmt": "none", "attStmt": {}, "authData": bytes(auth_data)})
        )
        return {
            "id": websafe_encode(self.credential_id),
            "rawId": websafe_encode(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": websafe_encode(client_data),
                "attestationObject": websafe_encode(attestation),
                "transports": ["internal"],
            },
            "authenticatorAttachment": "platform",
            # A discoverable credential (resident key): it can sign in without a username.
            "clientExtensionResults": {"credProps": {"rk": True}},
        }

    def get(self, request_options: dict[str, Any], *, rp_id: str | None = None) -> dict[str, Any]:
        """Answer `navigator.credentials.get()`: the AuthenticationResponseJSON."""
        options = request_options["publicKey"]
        # The authenticator holds a credential for this RP only, and only one it was asked for.
        assert options["rpId"] == self.rp_id
        allowed = [websafe_decode(c["id"]) for c in options.get("allowCredentials") or []]
        assert not allowed or self.credential_id in allowed
        self.counter += 1
        client_data = CollectedClientData.create(
            type=CollectedClientData.TYPE.GET,
            challenge=options["challenge"],
            origin=self.origin,
        )
        auth_data = AuthenticatorData.create(
            sha256((rp_id or self.rp_id).encode()).digest(),
            FLAGS.UP | FLAGS.UV,
            self.counter,
        )
        signature = self.key.sign(bytes(auth_data) + client_data.hash, ec.ECDSA(hashes.SHA256()))
        return {
            "id": websafe_encode(self.credential_id),
            "rawId": websafe_encode(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": websafe_encode(client_data),
                "authenticatorData": websafe_encode(auth_data),
                "signature": websafe_encode(signature),
                "userHandle": websafe_encode(self.user_handle),
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    def impostor(self) -> SoftwareAuthenticator:
        """Return another authenticator that claims this one's user and RP: an unknown key."""
        other = SoftwareAuthenticator(self.origin)
        other.user_handle, other.rp_id = self.user_handle, self.rp_id
        return other


@pytest.fixture
def passkey_client(db: None) -> Client:
    """Return a Django test client that talks to the site as http://localhost:8000."""
    return Client(HTTP_HOST=HOST)


def add_passkey(client: Client, access: str) -> SoftwareAuthenticator:
    """Register a new passkey for the access token's user through allauth; return it."""
    path = "/account/authenticators/webauthn"
    # allauth asks for a fresh password before it offers creation options.
    first = call(client, "get", path + "?passwordless", access=access)
    assert first.status_code == 401, first.content
    assert "reauthenticate" in [f["id"] for f in first.json()["data"]["flows"]]
    again = call(client, "post", "/auth/reauthenticate", {"password": PASSWORD}, access=access)
    assert again.status_code == 200, again.content
    offer = call(client, "get", path + "?passwordless", access=access)
    assert offer.status_code == 200, offer.content
    options = offer.json()["data"]["creation_options"]
    assert options["publicKey"]["rp"]["id"] == RP_ID
    assert options["publicKey"]["authenticatorSelection"]["residentKey"] == "required"
    authenticator = SoftwareAuthenticator()
    added = call(
        client,
        "post",
        path,
        {"name": "Laptop", "credential": authenticator.create(options), "passwordless": True},
        access=access,
    )
    assert added.status_code == 200, added.content
    assert added.json()["data"]["type"] == "webauthn"
    # Registering adds no session and hands out no tokens.
    assert "access_token" not in added.json().get("meta", {})
    return authenticator


def passkey_login(client: Client, authenticator: SoftwareAuthenticator, **get: Any) -> Any:
    """Sign in with the passkey alone: fetch options, answer them, post the credential."""
    offer = call(client, "get", "/auth/webauthn/login")
    assert offer.status_code == 200, offer.content
    # The options live in a Django session that the app client names by its session token.
    flow = offer.json()["meta"]["session_token"]
    options = offer.json()["data"]["request_options"]
    # Usernameless: allauth lists no credentials, the authenticator picks its own.
    assert not options["publicKey"].get("allowCredentials")
    credential = authenticator.get(options, **get)
    return call(
        client, "post", "/auth/webauthn/login", {"credential": credential}, session_token=flow
    )


def test_a_signed_in_user_adds_a_passkey(passkey_client, user):
    meta = allauth_login(passkey_client, username="alice")
    add_passkey(passkey_client, meta["access_token"])
    listed = call(passkey_client, "get", "/account/authenticators", access=meta["access_token"])
    assert listed.status_code == 200, listed.content
    kinds = {a["type"]: a for a in listed.json()["data"]}
    assert kinds["webauthn"]["name"] == "Laptop"
    assert kinds["webauthn"]["is_passwordless"] is True
    # allauth hands out recovery codes with the first authenticator.
    assert "recovery_codes" in kinds
    # The session that added it goes on.
    assert len(my_sessions(passkey_client, meta["access_token"])) == 1


def test_a_passkey_login_ends_in_one_of_the_apps_sessions(passkey_client, user):
    meta = allauth_login(passkey_client, username="alice")
    authenticator = add_passkey(passkey_client, meta["access_token"])
    response = passkey_login(passkey_client, authenticator)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["data"]["user"]["username"] == "alice"
    assert [m["method"] for m in body["data"]["methods"]] == ["mfa"]
    assert {"access_token", "refresh_token", "session_token"} <= set(body["meta"])
    assert len(my_sessions(passkey_client, body["meta"]["access_token"])) == 2
    assert_full_session_life(passkey_client, body["meta"], "alice")


def test_a_passkey_is_the_second_factor_after_a_password(passkey_client, user):
    meta = allauth_login(passkey_client, username="alice")
    authenticator = add_passkey(passkey_client, meta["access_token"])
    first = call(passkey_client, "post", "/auth/login", {"username": "alice", "password": PASSWORD})
    assert first.status_code == 401, first.content
    assert "access_token" not in first.json()["meta"]
    pending = [f for f in first.json()["data"]["flows"] if f.get("is_pending")]
    assert [f["id"] for f in pending] == ["mfa_authenticate"]
    assert "webauthn" in pending[0]["types"]
    flow = first.json()["meta"]["session_token"]
    offer = call(passkey_client, "get", "/auth/webauthn/authenticate", session_token=flow)
    assert offer.status_code == 200, offer.content
    options = offer.json()["data"]["request_options"]
    # Here allauth knows the user and names the credentials it will take.
    allowed = [c["id"] for c in options["publicKey"]["allowCredentials"]]
    assert allowed == [websafe_encode(authenticator.credential_id)]
    done = call(
        passkey_client,
        "post",
        "/auth/webauthn/authenticate",
        {"credential": authenticator.get(options)},
        session_token=flow,
    )
    assert done.status_code == 200, done.content
    assert_full_session_life(passkey_client, done.json()["meta"], "alice")


def tampered_signature(credential: dict[str, Any]) -> dict[str, Any]:
    """Return `credential` with one bit of its DER signature's last byte flipped."""
    signature = bytearray(websafe_decode(credential["response"]["signature"]))
    signature[-1] ^= 0x01
    response = {**credential["response"], "signature": websafe_encode(bytes(signature))}
    return {**credential, "response": response}


@pytest.mark.parametrize(
    "attack", ["wrong-signature", "unknown-credential", "other-origin", "other-rp", "replay"]
)
def test_a_bad_passkey_assertion_gets_no_session(passkey_client, user, attack):
    meta = allauth_login(passkey_client, username="alice")
    authenticator = add_passkey(passkey_client, meta["access_token"])
    offer = call(passkey_client, "get", "/auth/webauthn/login")
    flow = offer.json()["meta"]["session_token"]
    options = offer.json()["data"]["request_options"]
    if attack == "wrong-signature":
        credential = tampered_signature(authenticator.get(options))
    elif attack == "unknown-credential":
        # A key allauth never registered, claiming alice's user handle.
        credential = authenticator.impostor().get(options)
    elif attack == "other-origin":
        # A phishing page relaying the challenge: the browser writes its own origin.
        authenticator.origin = "https://login-example.test"
        credential = authenticator.get(options)
    elif attack == "other-rp":
        credential = authenticator.get(options, rp_id="example.com")
    else:
        # An assertion that already signed in once, sent again. In its own flow: that flow's
        # session token is spent (allauth's 410). In a fresh flow: its challenge is not the
        # fresh one.
        credential = authenticator.get(options)
        once = call(
            passkey_client,
            "post",
            "/auth/webauthn/login",
            {"credential": credential},
            session_token=flow,
        )
        assert once.status_code == 200, once.content
        again = call(
            passkey_client,
            "post",
            "/auth/webauthn/login",
            {"credential": credential},
            session_token=flow,
        )
        assert again.status_code == 410, again.content
        flow = call(passkey_client, "get", "/auth/webauthn/login").json()["meta"]["session_token"]
    before = len(my_sessions(passkey_client, meta["access_token"]))
    refused = call(
        passkey_client,
        "post",
        "/auth/webauthn/login",
        {"credential": credential},
        session_token=flow,
    )
    assert refused.status_code == 400, refused.content
    assert "access_token" not in refused.json().get("meta", {})
    assert refused.json()["errors"][0]["code"] == "incorrect_code"
    assert len(my_sessions(passkey_client, meta["access_token"])) == before
    # The same authenticator, answering honestly, still signs in.
    authenticator.origin = ORIGIN
    assert passkey_login(passkey_client, authenticator).status_code == 200


def test_a_passkey_login_without_fetching_options_gets_no_session(passkey_client, user):
    meta = allauth_login(passkey_client, username="alice")
    authenticator = add_passkey(passkey_client, meta["access_token"])
    # The answer posted without the session token of the flow that fetched the options lands in
    # a new, empty flow that holds no challenge: no session.
    options = call(passkey_client, "get", "/auth/webauthn/login").json()["data"]["request_options"]
    refused = call(
        passkey_client, "post", "/auth/webauthn/login", {"credential": authenticator.get(options)}
    )
    assert refused.status_code == 400, refused.content
    assert "access_token" not in refused.json().get("meta", {})


def test_the_app_s_password_login_refuses_an_account_with_a_passkey(passkey_client, user):
    # allauth counts a passkey as a second factor (is_mfa_enabled): the app's own password
    # login, which checks the password only, refuses the account (PASSWORD_LOGIN_ALLOWED).
    meta = allauth_login(passkey_client, username="alice")
    before = passkey_client.post(
        "/api/auth/login",
        {"username": "alice", "password": PASSWORD},
        content_type="application/json",
    )
    assert before.status_code == 200, before.content
    add_passkey(passkey_client, meta["access_token"])
    refused = passkey_client.post(
        "/api/auth/login",
        {"username": "alice", "password": PASSWORD},
        content_type="application/json",
    )
    assert (refused.status_code, refused.json()["code"]) == (400, "password_login_refused")
