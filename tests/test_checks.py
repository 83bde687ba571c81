"""System checks judge the store by its class and the throttles' cache by its backend."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from tests.conftest import PASSWORD
from tokens.checks import check_eviction_policy, check_settings, check_signing_keys
from tokens.keys import public_pem, signing_settings
from tokens.stores.redis import RedisStore

pytestmark = pytest.mark.django_db


class SiteRedisStore(RedisStore):
    """A site's own subclass of the Redis store: the Redis checks apply to it too."""


class NotRedisStore:
    """A store that is no Redis store: the Redis checks leave it alone."""


def ids(messages):
    return {m.id for m in messages}


def with_tokens(settings, **values):
    settings.TOKENS = {**settings.TOKENS, **values}


LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


@pytest.mark.parametrize(
    "store", ["tokens.stores.redis.RedisStore", "tests.test_checks.SiteRedisStore"]
)
def test_a_redis_store_or_subclass_needs_a_django_redis_cache_alias(settings, store):
    settings.CACHES = {**settings.CACHES, "plain": LOCMEM}
    with_tokens(settings, STORE=store, CACHE_ALIAS="plain", THROTTLE_CACHE_ALIAS="default")
    assert "tokens.E004" in ids(check_settings())


def test_a_store_that_is_not_redis_gets_no_redis_check(settings):
    settings.CACHES = {**settings.CACHES, "plain": LOCMEM}
    with_tokens(
        settings,
        STORE="tests.test_checks.NotRedisStore",
        CACHE_ALIAS="plain",
        THROTTLE_CACHE_ALIAS="default",
    )
    assert check_settings() == []


def test_eviction_policy_is_checked_for_redis_stores_only(settings, redis_server):
    redis_server.config_set("maxmemory-policy", "allkeys-lru")
    try:
        with_tokens(settings, STORE="tests.test_checks.SiteRedisStore")
        assert ids(check_eviction_policy()) == {"tokens.W001"}
        with_tokens(settings, STORE="tests.test_checks.NotRedisStore")
        assert check_eviction_policy() == []
    finally:
        redis_server.config_set("maxmemory-policy", "noeviction")


@pytest.mark.parametrize("store", ["tokens.stores.nowhere.Store", "tokens.conf.DEFAULTS"])
def test_a_store_that_cannot_be_imported_is_an_error(settings, store):
    with_tokens(settings, STORE=store)
    messages = check_settings()
    assert "tokens.E005" in ids(messages)
    assert all(m.hint for m in messages)


@pytest.mark.parametrize(
    ("cache", "expected"),
    [
        (None, "tokens.E006"),
        ({"BACKEND": "django.core.cache.backends.dummy.DummyCache"}, "tokens.E007"),
        (LOCMEM, "tokens.W002"),
    ],
)
def test_the_throttles_need_a_cache_every_worker_shares(settings, cache, expected):
    if cache is not None:
        settings.CACHES = {**settings.CACHES, "throttles": cache}
    with_tokens(settings, THROTTLE_CACHE_ALIAS="throttles")
    assert ids(check_settings()) == {expected}


def test_a_database_cache_for_the_throttles_passes(settings):
    settings.CACHES = {
        **settings.CACHES,
        "throttles": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "t"},
    }
    with_tokens(settings, THROTTLE_CACHE_ALIAS="throttles")
    assert check_settings() == []


@pytest.mark.parametrize(
    ("debug", "refresh_secure", "csrf_secure", "warned"),
    [
        (False, None, False, True),
        (False, None, True, False),
        (True, True, False, True),
        (True, None, False, False),  # DEBUG over plain HTTP: neither cookie is Secure
        (False, False, False, False),
    ],
)
def test_csrf_cookie_must_be_secure_when_the_refresh_cookie_is(
    settings, debug, refresh_secure, csrf_secure, warned
):
    settings.DEBUG = debug
    settings.CSRF_COOKIE_SECURE = csrf_secure
    with_tokens(settings, REFRESH_COOKIE_SECURE=refresh_secure)
    assert ("tokens.W003" in ids(check_settings())) is warned


def test_the_demo_sets_both_cookies_secure(api, user, settings):
    response = api.post(
        "/api/auth/login",
        {"username": "alice", "password": PASSWORD, "use_cookie": True},
        format="json",
    )
    assert response.status_code == 200
    assert response.cookies["refresh_token"]["secure"] is True
    assert response.cookies["csrftoken"]["secure"] is True
    assert "tokens.W003" not in ids(check_settings())


def test_check_command_reports_a_store_by_class(settings):
    with_tokens(settings, STORE="tokens.stores.nowhere.Store")
    with pytest.raises(SystemCheckError, match=r"tokens\.E005"):
        call_command("check")


@pytest.mark.parametrize("value", [0, -1, 2.5, "16", True, None])
def test_the_replay_cap_must_be_a_positive_integer(settings, value):
    with_tokens(settings, ROTATION_MAX_REPLAYS=value)
    [message] = check_settings()
    assert message.id == "tokens.E008"
    assert "16" in (message.hint or "")  # what is safe: the refreshes one client may send at once
    with pytest.raises(SystemCheckError, match=r"tokens\.E008"):
        call_command("check")


@pytest.mark.parametrize("value", [1, 16, 32, 1000])
def test_a_positive_replay_cap_passes(settings, value):
    with_tokens(settings, ROTATION_MAX_REPLAYS=value)
    assert check_settings() == []


# --- tokens.E009: keys that cannot sign or verify fail at startup, not at the first login ---

EC_PUBLIC_PEM = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqw3mPjtzQkUNJQ7Xw7zQw2cAbGT+hTmJ\n"
    "-----END PUBLIC KEY-----\n"
)


def ec_private_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    return (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode("ascii")
    )


@pytest.mark.parametrize(
    ("signing", "verifying_keys"),
    [
        ({"ALGORITHM": "HS256", "SIGNING_KEY": ""}, None),
        ({"ALGORITHM": "HS256", "SIGNING_KEY": EC_PUBLIC_PEM}, None),
        ({"ALGORITHM": "RS256", "SIGNING_KEY": "not a PEM key"}, None),
        ({"ALGORITHM": "XS999", "SIGNING_KEY": "a-long-enough-secret-of-32-bytes!"}, None),
        ({"ALGORITHM": "HS256", "SIGNING_KEY": "a-long-enough-secret-of-32-bytes!"}, ["junk"]),
    ],
    ids=["empty secret", "public key as secret", "unreadable PEM", "unknown alg", "bad extra"],
)
def test_signing_settings_that_cannot_sign_fail_the_system_check(settings, signing, verifying_keys):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, **signing, "VERIFYING_KEY": None}
    if verifying_keys is not None:
        with_tokens(settings, VERIFYING_KEYS=verifying_keys)
    messages = check_signing_keys()
    assert ids(messages) == {"tokens.E009"}
    assert all(m.hint for m in messages)
    with pytest.raises(SystemCheckError, match=r"tokens\.E009"):
        call_command("check")


@pytest.mark.django_db
def test_usable_keys_pass_the_check_and_sign(settings, api, user):
    private = ec_private_pem()
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, **signing_settings(private)}
    with_tokens(settings, VERIFYING_KEYS=[public_pem(ec_private_pem())])
    assert check_signing_keys() == []
    response = api.post(
        "/api/auth/login", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "name",
    [
        "TOKEN_OBTAIN_SERIALIZER",
        "TOKEN_REFRESH_SERIALIZER",
        "TOKEN_VERIFY_SERIALIZER",
        "TOKEN_BLACKLIST_SERIALIZER",
        "SLIDING_TOKEN_OBTAIN_SERIALIZER",
        "SLIDING_TOKEN_REFRESH_SERIALIZER",
    ],
)
def test_a_simplejwt_serializer_setting_is_reported_as_ignored_with_what_to_use(settings, name):
    from tokens.checks import check_simplejwt_settings

    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, name: "myproject.serializers.MyTokenSerializer"}
    found = [m for m in check_simplejwt_settings() if m.id == "tokens.W014"]
    assert len(found) == 1
    assert name in found[0].msg
    assert "TOKENS['ACCESS_CLAIMS']" in str(found[0].hint)
    # Left at simplejwt's default, it changes nothing: no warning.
    settings.SIMPLE_JWT = {
        **settings.SIMPLE_JWT,
        name: f"rest_framework_simplejwt.serializers.{_DEFAULT_SERIALIZERS[name]}",
    }
    assert "tokens.W014" not in ids(check_simplejwt_settings())


_DEFAULT_SERIALIZERS = {
    "TOKEN_OBTAIN_SERIALIZER": "TokenObtainPairSerializer",
    "TOKEN_REFRESH_SERIALIZER": "TokenRefreshSerializer",
    "TOKEN_VERIFY_SERIALIZER": "TokenVerifySerializer",
    "TOKEN_BLACKLIST_SERIALIZER": "TokenBlacklistSerializer",
    "SLIDING_TOKEN_OBTAIN_SERIALIZER": "TokenObtainSlidingSerializer",
    "SLIDING_TOKEN_REFRESH_SERIALIZER": "TokenRefreshSlidingSerializer",
}


def test_asymmetric_signing_without_an_issuer_is_warned_about(settings):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from tokens.checks import check_issuer

    assert check_issuer() == []  # HS256: no other service verifies the tokens
    private = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, **signing_settings(private)}
    assert ids(check_issuer()) == {"tokens.W005"}
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ISSUER": "https://auth.example.com"}
    assert check_issuer() == []
