"""The refresh path's shortcuts agree with the general code they stand in for.

The HMAC shortcut in `tokens.tokens.HMACFastPathBackend` may only accept what PyJWT accepts
(with the same payload), and it must mint byte-for-byte what PyJWT mints, or the grace window's
re-minted successor would differ between the paths. `tokens.serializers.refresh_token_in` must
return what `RefreshSerializer` returns, and leave every error to it.
"""

import base64
import hashlib
import hmac
import json
import random
import time

import jwt
import pytest
from django.conf import settings as django_settings
from rest_framework.exceptions import ValidationError

from tokens.keys import hmac_kid
from tokens.serializers import RefreshSerializer, refresh_token_in
from tokens.tokens import HMACFastPathBackend, mint_access, mint_refresh, token_backend


def b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def compact(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def signed(header: dict | bytes, payload: dict | bytes, key: str) -> str:
    head = b64(header if isinstance(header, bytes) else compact(header))
    body = b64(payload if isinstance(payload, bytes) else compact(payload))
    signature = b64(hmac.new(key.encode(), head + b"." + body, hashlib.sha256).digest())
    return (head + b"." + body + b"." + signature).decode()


def pyjwt_verdict(token: str, key: str, leeway: float = 0):
    try:
        return jwt.decode(token, key, algorithms=["HS256"], leeway=leeway)
    except jwt.PyJWTError:
        return None


def kid() -> str:
    """Return the key id every token of the test settings carries (tokens.keys)."""
    return hmac_kid(django_settings.SECRET_KEY)


def ours() -> dict:
    """Return the header the site's tokens carry."""
    return {"alg": "HS256", "kid": kid(), "typ": "JWT"}


@pytest.fixture
def backend():
    return HMACFastPathBackend("HS256", django_settings.SECRET_KEY)


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
    backend = token_backend()
    assert isinstance(backend, HMACFastPathBackend)
    for token in (mint_access(7, "session-a"), mint_refresh("u-é", "session-b", jti="j" * 22)):
        assert str(token) == jwt.encode(
            token.payload, django_settings.SECRET_KEY, "HS256", headers={"kid": kid()}
        )


@pytest.mark.parametrize("use_tz", [True, False])
def test_minting_makes_the_token_simplejwt_s_token_class_makes(monkeypatch, settings, use_tz):
    from datetime import UTC, datetime

    import rest_framework_simplejwt.tokens as simplejwt_tokens

    from tokens import tokens as our_tokens

    settings.USE_TZ = use_tz
    # An instant whose fraction of a second must be dropped, as simplejwt drops it.
    moment = datetime(2026, 11, 30, 12, 0, 59, 999_999, tzinfo=UTC)
    current = moment if use_tz else moment.replace(tzinfo=None)
    monkeypatch.setattr(simplejwt_tokens, "aware_utcnow", lambda: current)
    monkeypatch.setattr(our_tokens.time, "time", moment.timestamp)
    monkeypatch.setattr(our_tokens, "new_jti", lambda: "j" * 22)

    for token_class, minted in (
        (our_tokens.SessionAccessToken, mint_access(7, "session-a")),
        (our_tokens.SessionRefreshToken, mint_refresh("u-é", "session-a")),
    ):
        reference = token_class()  # simplejwt's Token.__init__: type, exp, iat, jti
        reference["user_id"] = minted["user_id"]
        reference["sid"] = "session-a"
        assert list(minted.payload.items()) == list(reference.payload.items())
        assert str(minted) == str(reference)
        assert minted.current_time == reference.current_time
        assert type(minted) is token_class
    fixed = mint_refresh(1, "s", jti="k" * 22, issued_at=100, expires_at=200)
    assert (fixed["jti"], fixed["iat"], fixed["exp"]) == ("k" * 22, 100, 200)


def test_mangled_tokens_are_never_accepted_where_pyjwt_refuses(backend):
    rng = random.Random(20261130)
    key = django_settings.SECRET_KEY
    token = str(mint_refresh(1, "session-a"))
    assert backend._verified_payload(token) == pyjwt_verdict(token, key) is not None
    for _ in range(3000):
        candidate = mangled(token, rng)
        if candidate != token:  # a swap of two equal characters changes nothing
            assert backend._verified_payload(candidate) is None, candidate


@pytest.mark.parametrize(
    ("header", "payload"),
    [
        ("ours", {"exp": -1, "iat": 0, "jti": "a"}),  # expired
        ("ours", {"exp": "9999999999", "jti": "a"}),  # exp not an int
        ("ours", {"exp": True, "jti": "a"}),  # a bool is not an int
        ("ours", {"exp": 9999999999, "iat": 9999999999}),  # issued later
        ("ours", {"exp": 9999999999, "nbf": 9999999999}),  # not yet
        ("ours", {"exp": 9999999999, "jti": 5}),  # jti not a string
        ("ours", {"exp": 9999999999, "sub": 5}),  # sub not a string
        ("ours", {"iat": 0}),  # no exp: PyJWT decides
        ({"alg": "HS256", "typ": "JWT", "kid": "1"}, {"exp": 9999999999}),  # other header
        ({"typ": "JWT", "alg": "HS256"}, {"exp": 9999999999}),  # same header, other order
        (b'{"alg": "HS256", "typ": "JWT"}', {"exp": 9999999999}),  # same header, spaced
        ("ours", b"[1, 2]"),  # not an object
        ("ours", b"\xff\xfe"),  # not JSON
    ],
)
def test_odd_claims_and_headers_are_left_to_pyjwt(backend, header, payload):
    # "ours": the header the site writes, so that only the claims are odd.
    header = ours() if header == "ours" else header
    token = signed(header, payload, django_settings.SECRET_KEY)
    assert backend._verified_payload(token) is None


def test_a_valid_token_is_accepted_with_the_payload_pyjwt_reads(backend):
    payload = {"exp": int(time.time()) + 60, "iat": int(time.time()), "jti": "a", "x": [1]}
    token = signed(ours(), payload, django_settings.SECRET_KEY)
    assert backend._verified_payload(token) == payload
    assert pyjwt_verdict(token, django_settings.SECRET_KEY) == payload


def test_leeway_is_honoured_as_pyjwt_does():
    payload = {"exp": int(time.time()) - 5, "iat": int(time.time()) - 60, "jti": "a"}
    token = signed(ours(), payload, django_settings.SECRET_KEY)
    assert HMACFastPathBackend("HS256", django_settings.SECRET_KEY)._verified_payload(token) is None
    lenient = HMACFastPathBackend("HS256", django_settings.SECRET_KEY, leeway=30)
    assert lenient._verified_payload(token) == pyjwt_verdict(token, django_settings.SECRET_KEY, 30)


@pytest.mark.parametrize(
    "options",
    [{"audience": "site"}, {"issuer": "me"}, {"json_encoder": json.JSONEncoder}],
)
def test_audience_issuer_or_a_custom_encoder_take_the_pyjwt_path(options):
    backend = HMACFastPathBackend("HS256", django_settings.SECRET_KEY, **options)
    token = backend.encode({"exp": int(time.time()) + 60, "jti": "a"})
    assert backend._verified_payload(token) is None
    assert backend.decode(token)["jti"] == "a"


def test_a_key_pyjwt_refuses_for_hmac_is_still_refused():
    pem = (
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----"
    )
    backend = HMACFastPathBackend("HS256", pem)
    with pytest.raises(jwt.InvalidKeyError):
        backend.encode({"exp": int(time.time()) + 60})


@pytest.mark.parametrize(
    "data",
    [
        {"refresh_token": "a.b.c"},
        {"refresh_token": "a.b.c", "other": 1},
        {"refresh_token": " a.b.c "},
        {"refresh_token": "a.b.c\n"},
        {"refresh_token": "\ta.b.c"},
        {"refresh_token": "a.b\x00.c"},
        {"refresh_token": "a.b\x7f.c"},
        {"refresh_token": "a.b\u00e9.c"},
        {"refresh_token": "a.b\ud800.c"},
        {"refresh_token": "x" * 4096},
        {"refresh_token": "x" * 4097},
        {"refresh_token": ""},
        {"refresh_token": "   "},
        {"refresh_token": None},
        {"refresh_token": 12345},
        {"refresh_token": ["a.b.c"]},
        {"refresh_token": {"a": 1}},
        {"refresh_token": True},
        {},
        {"refresh": "a.b.c"},
        [],
        ["a.b.c"],
        "a.b.c",
        None,
    ],
)
def test_refresh_token_in_matches_the_serializer(data):
    serializer = RefreshSerializer(data=data)
    if serializer.is_valid():
        assert refresh_token_in(data) == serializer.validated_data.get("refresh_token")
    else:
        with pytest.raises(ValidationError) as raised:
            refresh_token_in(data)
        assert raised.value.detail == serializer.errors


@pytest.mark.django_db
def test_token_user_is_the_user_the_orm_loads(make_user, django_user_model):
    from django.utils import timezone

    from tokens.services import token_user

    make_user("someone-else")
    user = make_user("alice", first_name="Älice", last_login=timezone.now())
    orm = django_user_model.objects.get(pk=user.pk)
    fast = token_user(user.pk)

    assert fast is not None
    assert type(fast) is type(orm)
    for field in django_user_model._meta.concrete_fields:
        assert getattr(fast, field.attname) == getattr(orm, field.attname), field.name
        assert type(getattr(fast, field.attname)) is type(getattr(orm, field.attname)), field.name
    assert (fast._state.adding, fast._state.db) == (False, "default")
    fast.first_name = "Alice"
    fast.save()  # an UPDATE of the loaded row, not an INSERT
    assert django_user_model.objects.get(pk=user.pk).first_name == "Alice"
    assert django_user_model.objects.count() == 2


@pytest.mark.django_db
def test_the_refresh_check_reads_only_the_active_flag(
    make_user, django_user_model, django_assert_num_queries
):
    from tokens.services import user_is_active

    active, inactive = make_user("alice"), make_user("bob")
    django_user_model.objects.filter(pk=inactive.pk).update(is_active=False)
    with django_assert_num_queries(2) as captured:
        assert user_is_active(active.pk) is True
        assert user_is_active(inactive.pk) is False
    for query in captured.captured_queries:
        assert "is_active" in query["sql"]
        assert "password" not in query["sql"]
        assert "username" not in query["sql"]


@pytest.mark.django_db
def test_the_refresh_check_asks_the_user_when_is_active_is_not_a_column(
    make_user, django_user_model, monkeypatch
):
    from tokens import services

    # As for a user model whose is_active is a property: the loaded user is asked.
    monkeypatch.setattr(services, "_has_active_column", lambda model: False)
    active, inactive = make_user("alice"), make_user("bob")
    django_user_model.objects.filter(pk=inactive.pk).update(is_active=False)
    assert services.user_is_active(active.pk) is True
    assert services.user_is_active(inactive.pk) is False
    assert services.user_is_active(999_999) is None


@pytest.mark.django_db
@pytest.mark.parametrize("claim", [999_999, "not-a-number", None, "1.5", [1]])
def test_the_refresh_check_is_none_for_a_claim_that_names_no_user(user, claim):
    from tokens.services import user_is_active

    assert user_is_active(claim) is None


@pytest.mark.django_db
@pytest.mark.parametrize("claim", [999_999, "not-a-number", None, "1.5", [1]])
def test_token_user_is_none_for_a_claim_that_names_no_user(user, claim):
    from tokens.services import token_user

    assert token_user(claim) is None


def test_a_deeply_nested_payload_is_left_to_pyjwt(backend):
    token = signed(
        {"alg": "HS256", "typ": "JWT"}, b"[" * 100_000 + b"]" * 100_000, django_settings.SECRET_KEY
    )
    assert backend._verified_payload(token) is None


def test_a_key_pyjwt_warns_about_as_too_short_takes_pyjwt_s_path_and_its_warning():
    backend = HMACFastPathBackend("HS256", "short")
    with pytest.warns(jwt.InsecureKeyLengthWarning):
        token = backend.encode({"exp": int(time.time()) + 60, "jti": "a"})
    assert backend._verified_payload(token) is None
