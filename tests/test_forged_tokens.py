"""Tokens an attacker makes or edits are refused with the right code."""

import base64
import json
from datetime import timedelta

import jwt
import pytest
from django.conf import settings as django_settings

from tests.conftest import bearer, login

pytestmark = pytest.mark.django_db


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def with_payload(token: str, **changes) -> str:
    header, _, signature = token.split(".")
    return ".".join([header, b64({**claims(token), **changes}), signature])


def call(api, token):
    return api.get("/api/user/info", **bearer(token))


def refresh(api, token):
    return api.post("/api/auth/refresh", {"refresh_token": token}, format="json")


def test_alg_none_is_refused(api, user):
    payload = claims(login(api)["access_token"])
    forged = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(payload)}."
    assert call(api, forged).json()["code"] == "access_token_invalid"


def test_other_signing_key_is_refused(api, user):
    body = login(api)
    forged = jwt.encode(
        claims(body["access_token"]), "another-key-entirely-32-bytes-long!!", "HS256"
    )
    assert call(api, forged).json()["code"] == "access_token_invalid"
    forged_refresh = jwt.encode(claims(body["refresh_token"]), "k" * 40, "HS256")
    assert refresh(api, forged_refresh).json()["code"] == "refresh_token_invalid"


@pytest.mark.parametrize("claim", ["user_id", "sid", "exp"])
def test_edited_payload_with_old_signature_is_refused(api, user, claim):
    body = login(api)
    value = {"user_id": 999, "sid": "someone-else", "exp": 4102444800}[claim]
    assert call(api, with_payload(body["access_token"], **{claim: value})).status_code == 401
    assert refresh(api, with_payload(body["refresh_token"], **{claim: value})).json()["code"] == (
        "refresh_token_invalid"
    )


@pytest.mark.parametrize("token_type", [None, "refresh", "id"])
def test_wrong_or_missing_token_type_is_refused_for_access(api, user, token_type):
    payload = claims(login(api)["access_token"])
    if token_type is None:
        del payload["token_type"]
    else:
        payload["token_type"] = token_type
    forged = jwt.encode(payload, django_settings.SIMPLE_JWT["SIGNING_KEY"], "HS256")
    assert call(api, forged).json()["code"] == "access_token_invalid"


def test_validly_signed_token_without_session_is_refused(api, user):
    payload = claims(login(api)["access_token"])
    del payload["sid"]
    forged = jwt.encode(payload, django_settings.SIMPLE_JWT["SIGNING_KEY"], "HS256")
    assert call(api, forged).json()["code"] == "access_token_invalid"


def test_session_id_of_another_user_is_refused(api, user, make_user):
    bob = make_user("bob")
    alice_payload = claims(login(api)["access_token"])
    bob_payload = claims(login(api, "bob")["access_token"])
    # Even correctly signed (a leaked key), alice's user id with bob's session is no session.
    mixed = {**alice_payload, "sid": bob_payload["sid"]}
    forged = jwt.encode(mixed, django_settings.SIMPLE_JWT["SIGNING_KEY"], "HS256")
    response = call(api, forged)
    assert response.status_code == 401
    assert response.json()["code"] == "session_revoked"
    assert bob.is_active


def test_not_before_in_the_future_is_refused(api, user, settings):
    payload = claims(login(api)["access_token"])
    payload["nbf"] = payload["iat"] + 3600
    forged = jwt.encode(payload, django_settings.SIMPLE_JWT["SIGNING_KEY"], "HS256")
    assert call(api, forged).json()["code"] == "access_token_invalid"


def test_token_signed_for_a_shorter_lifetime_still_expires_by_its_own_exp(api, user, settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ACCESS_TOKEN_LIFETIME": timedelta(seconds=-1)}
    body = login(api)
    assert call(api, body["access_token"]).json()["code"] == "access_token_expired"
