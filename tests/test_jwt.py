"""Minting and decoding go through simplejwt's Token classes and PyJWT, with the key ring.

A minted token is byte for byte what PyJWT mints for its payload and the ring's `kid` (the
grace window re-mints the same successor from its jti, iat and exp); decoding accepts what
PyJWT accepts with the one key the token's `kid` names, and nothing else.
"""

import base64
import hashlib
import hmac
import json
import random
import time
from typing import Any, cast

import jwt
import pytest
from django.conf import settings as django_settings
from rest_framework_simplejwt.exceptions import TokenBackendError

from tokens.jwt import mint_access, mint_refresh, token_backend
from tokens.keys import hmac_kid


def b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def compact(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def signed(header: dict | bytes, payload: dict | bytes, key: str) -> str:
    head = b64(header if isinstance(header, bytes) else compact(header))
    body = b64(payload if isinstance(payload, bytes) else compact(payload))
    signature = b64(hmac.new(key.encode(), head + b"." + body, hashlib.sha256).digest())
    return (head + b"." + body + b"." + signature).decode()


def kid() -> str:
    """Return the key id every token of the test settings carries (tokens.keys)."""
    return hmac_kid(django_settings.SECRET_KEY)


def ours() -> dict:
    """Return the header the site's tokens carry."""
    return {"alg": "HS256", "kid": kid(), "typ": "JWT"}


def decoded(raw: str) -> dict[str, Any]:
    """Return the payload the site's token backend reads from a raw token."""
    return token_backend().decode(cast(Any, raw))  # simplejwt types it as a Token; it is a str


def mangled(token: str, rng: random.Random) -> str:
    """Return the token with one random edit: a flipped, dropped, added or moved character."""
    chars = list(token)
    at = rng.randrange(len(chars))
    edit = rng.choice(["flip", "drop", "add", "swap"])
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=.+/ \x00é"
    if edit == "flip":
        chars[at] = rng.choice(alphabet)
    elif edit == "drop":
        del chars[at]
    elif edit == "add":
        chars.insert(at, rng.choice(alphabet))
    else:
        other = rng.randrange(len(chars))
        chars[at], chars[other] = chars[other], chars[at]
    return "".join(chars)


def test_minted_tokens_are_byte_for_byte_what_pyjwt_mints():
    for token in (mint_access(7, "session-a"), mint_refresh("u-é", "session-b", jti="j" * 22)):
        assert str(token) == jwt.encode(
            token.payload, django_settings.SECRET_KEY, "HS256", headers={"kid": kid()}
        )


@pytest.mark.parametrize("use_tz", [True, False])
def test_minting_makes_the_token_simplejwt_s_token_class_makes(monkeypatch, settings, use_tz):
    from datetime import UTC, datetime

    import rest_framework_simplejwt.tokens as simplejwt_tokens

    from tokens import jwt as our_jwt

    settings.USE_TZ = use_tz
    # An instant whose fraction of a second must be dropped, as simplejwt drops it.
    moment = datetime(2026, 11, 30, 12, 0, 59, 999_999, tzinfo=UTC)
    current = moment if use_tz else moment.replace(tzinfo=None)
    monkeypatch.setattr(simplejwt_tokens, "aware_utcnow", lambda: current)
    monkeypatch.setattr(our_jwt, "new_jti", lambda: "j" * 22)

    for token_class, minted in (
        (our_jwt.SessionAccessToken, mint_access(7, "session-a")),
        (our_jwt.SessionRefreshToken, mint_refresh("u-é", "session-a")),
    ):
        reference = token_class()  # simplejwt's Token.__init__: type, exp, iat, jti
        reference["user_id"] = minted["user_id"]
        reference["sid"] = "session-a"
        assert list(minted.payload.items()) == list(reference.payload.items())
        assert str(minted) == str(reference)
        assert minted.current_time == reference.current_time
        assert type(minted) is token_class


def test_a_successor_re_minted_from_its_jti_iat_and_exp_is_the_same_token():
    fixed = mint_refresh(1, "s", jti="k" * 22, issued_at=100, expires_at=200)
    assert (fixed["jti"], fixed["iat"], fixed["exp"]) == ("k" * 22, 100, 200)
    time.sleep(1.01)  # another second: Token() would write another iat and exp
    again = mint_refresh(1, "s", jti="k" * 22, issued_at=100, expires_at=200)
    assert str(again) == str(fixed)


def test_mangled_tokens_are_refused():
    rng = random.Random(20261130)
    token = str(mint_refresh(1, "session-a"))
    assert decoded(token) == jwt.decode(token, django_settings.SECRET_KEY, algorithms=["HS256"])
    for _ in range(1000):
        candidate = mangled(token, rng)
        if candidate == token:  # a swap of two equal characters changes nothing
            continue
        try:
            jwt.decode(candidate, django_settings.SECRET_KEY, algorithms=["HS256"])
        except jwt.PyJWTError:
            with pytest.raises(TokenBackendError):
                decoded(candidate)


def test_a_token_signed_with_the_key_but_naming_another_kid_is_refused():
    payload = {"exp": int(time.time()) + 60, "jti": "a"}

    assert decoded(signed(ours(), payload, django_settings.SECRET_KEY)) == payload
    # Written before kids were: the current key, as before.
    legacy = signed({"alg": "HS256", "typ": "JWT"}, payload, django_settings.SECRET_KEY)
    assert decoded(legacy) == payload
    with pytest.raises(TokenBackendError):
        decoded(signed({**ours(), "kid": "other"}, payload, django_settings.SECRET_KEY))
    with pytest.raises(TokenBackendError):
        decoded(signed({**ours(), "kid": 5}, payload, django_settings.SECRET_KEY))
    with pytest.raises(TokenBackendError):
        decoded(signed({**ours(), "alg": "HS384"}, payload, django_settings.SECRET_KEY))
