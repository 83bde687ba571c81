"""Password attempts are throttled per username and per client address, in any shared cache."""

import logging
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.core.management import call_command

from bench.throttle_keys import measure
from tests.conftest import PASSWORD, bearer, login
from tests.harness import RedisServer, free_port
from tests.settings import TEST_REDIS_PORT

pytestmark = pytest.mark.django_db

LOGIN = "/api/auth/login"
TOKEN = "/api/auth/token"
WRONG = "wrong-password"


@pytest.fixture
def rates(settings):
    """Return a function that sets the login throttle rates for this test."""

    def set_rates(address="1000/day", username="1000/day"):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                "tokens_login_address": address,
                "tokens_login_username": username,
            },
        }

    return set_rates


def attempt(api, username="alice", password=WRONG, address="10.0.0.1", **extra):
    return api.post(
        LOGIN,
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=address,
        **extra,
    )


def assert_throttled(response):
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["code"] == "throttled"
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 86400
    assert body["retry_after"] == retry_after


def test_username_past_its_limit_gets_429_with_retry_after(api, user, rates):
    rates(username="3/day")
    for _ in range(3):
        assert attempt(api).json()["code"] == "invalid_credentials"
    # Even the right password: the guesser cannot tell whether it was right.
    assert_throttled(attempt(api, password=PASSWORD))


def test_username_limit_holds_across_addresses_and_letter_case(api, user, rates):
    rates(username="2/day")
    attempt(api, address="10.0.0.1")
    attempt(api, username="ALICE", address="10.0.0.2")
    assert_throttled(attempt(api, username="Alice", address="10.0.0.3"))


def test_address_past_its_limit_gets_429_for_any_username(api, user, make_user, rates):
    rates(address="3/day")
    for name in ("carol", "dave", "erin"):
        assert attempt(api, username=name).status_code == 400
    assert_throttled(attempt(api, username="frank"))
    # Another address is not affected.
    assert attempt(api, password=PASSWORD, address="10.0.0.9").status_code == 200


def test_forged_forwarded_for_does_not_reset_the_address_limit(api, user, rates):
    rates(address="2/day")
    attempt(api, HTTP_X_FORWARDED_FOR="203.0.113.1")
    attempt(api, HTTP_X_FORWARDED_FOR="203.0.113.2")
    assert_throttled(attempt(api, HTTP_X_FORWARDED_FOR="203.0.113.3"))


def test_a_throttled_username_does_not_slow_other_users(api, user, make_user, rates):
    make_user("bob")
    rates(address="100/day", username="2/day")
    for _ in range(3):
        attempt(api, address="10.0.0.1")
    assert_throttled(attempt(api, password=PASSWORD, address="10.0.0.1"))
    # bob logs in at once, from the attacker's address and from his own.
    assert attempt(api, "bob", PASSWORD, address="10.0.0.1").status_code == 200
    assert attempt(api, "bob", PASSWORD, address="192.0.2.7").status_code == 200


def test_token_endpoint_password_grant_is_throttled_but_refresh_is_not(api, user, rates):
    rates(address="2/day", username="2/day")

    def password_grant():
        return api.post(
            TOKEN,
            {"grant_type": "password", "username": "alice", "password": PASSWORD},
            format="json",
            REMOTE_ADDR="10.0.0.1",
        )

    refresh_token = password_grant().json()["refresh_token"]
    assert password_grant().status_code == 200
    assert_throttled(password_grant())
    # A refresh token cannot be guessed, so refreshing is never counted or slowed.
    for _ in range(4):
        response = api.post(
            TOKEN,
            {"grant_type": "refresh_token", "refresh_token": refresh_token},
            format="json",
            REMOTE_ADDR="10.0.0.1",
        )
        assert response.status_code == 200, response.content
        refresh_token = response.json()["refresh_token"]


def test_requests_without_a_password_are_not_counted(api, user, rates):
    rates(address="1/day", username="1/day")
    for _ in range(3):
        response = api.post(LOGIN, {"username": "alice"}, format="json", REMOTE_ADDR="10.0.0.1")
        assert response.json()["code"] == "invalid_request"
    assert attempt(api, password=PASSWORD).status_code == 200


def test_rates_are_read_live_from_settings(api, user, rates):
    rates(username="1/day")
    attempt(api)
    assert attempt(api).status_code == 429
    # Raising the rate takes effect on the next request (no reload, no restart).
    rates(username="50/day")
    assert attempt(api, password=PASSWORD).status_code == 200
    # None switches a scope off.
    rates(address=None, username=None)
    for _ in range(60):
        assert attempt(api).status_code == 400


@pytest.mark.live
@pytest.mark.parametrize("cache", ["redis", "database"])
def test_throttle_counts_are_shared_by_every_worker(
    gunicorn_servers, transactional_db, make_user, cache
):
    make_user("alice")
    env = {"TEST_THROTTLE_USERNAME": "5/day"}
    if cache == "database":
        call_command("createcachetable", "tokens_throttle_cache", verbosity=0)
        env["TEST_THROTTLE_CACHE"] = "database"
    server = gunicorn_servers(**env)

    def guess(_):
        return httpx.post(
            f"{server.url}{LOGIN}",
            json={"username": "alice", "password": "wrong-password"},
            timeout=30,
        ).status_code

    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(guess, range(24)))
    # Three workers, twelve at a time: exactly five guesses get through, not five per worker.
    assert statuses.count(400) == 5
    assert statuses.count(429) == 19


# --- The username counted is the one the backend authenticates --------------------------------


@pytest.fixture(params=["redis", "database"])
def throttle_cache(request, settings, db):
    """Count in the Redis cache, or in Django's database cache (`createcachetable`)."""
    if request.param == "database":
        settings.CACHES = {
            **settings.CACHES,
            "throttles": {
                "BACKEND": "django.core.cache.backends.db.DatabaseCache",
                "LOCATION": "tokens_throttle_cache",
                "OPTIONS": {"MAX_ENTRIES": 100000},
            },
        }
        settings.TOKENS = {**settings.TOKENS, "THROTTLE_CACHE_ALIAS": "throttles"}
        call_command("createcachetable", "tokens_throttle_cache", verbosity=0)
    return request.param


def password_grant(api, username, password=WRONG, address="10.0.0.1"):
    return api.post(
        TOKEN,
        {"grant_type": "password", "username": username, "password": password},
        format="json",
        REMOTE_ADDR=address,
    )


SPELLINGS = [" bob", "bob\t", "\u2002bob\u2002", "BOB", "\uff42\uff4f\uff42"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_the_backend_authenticates_as_bob_logs_in_as_bob(api, make_user, spelling):
    make_user("bob")
    if spelling == "BOB":  # case makes one budget, but is a different username to log in with
        return
    assert attempt(api, spelling, PASSWORD).status_code == 200
    assert password_grant(api, spelling, PASSWORD).status_code == 200


def test_spellings_of_a_username_draw_on_one_budget(api, make_user, rates, throttle_cache):
    make_user("bob")
    rates(username=f"{len(SPELLINGS)}/day")
    for index, spelling in enumerate(SPELLINGS):
        send = attempt if index % 2 else password_grant
        response = send(api, spelling, address=f"10.0.0.{index}")
        assert response.status_code == 400, (spelling, response.content)
    for spelling in ["bob", *SPELLINGS]:
        assert_throttled(attempt(api, spelling, PASSWORD, address="10.9.9.9"))
        assert_throttled(password_grant(api, spelling, PASSWORD, address="10.9.9.9"))


def test_a_json_number_and_its_string_draw_on_one_budget(api, make_user, rates, throttle_cache):
    make_user("5550100")
    rates(username="2/day")
    assert attempt(api, 5550100).status_code == 400
    assert password_grant(api, " 5550100 ").status_code == 400
    assert_throttled(attempt(api, "5550100", PASSWORD))
    assert_throttled(password_grant(api, 5550100, PASSWORD))
    rates(username="100/day")
    # Within the budget, the number logs in as the user it names.
    assert attempt(api, 5550100, PASSWORD).status_code == 200


# --- Every password check draws on the same budget ----------------------------------------------

PASSWORD_CHANGE = "/api/user/password"
NEW_PASSWORD = "a-new-and-long-passphrase-42"


def change_password(api, access, old=WRONG, new=NEW_PASSWORD):
    return api.post(
        PASSWORD_CHANGE,
        {"old_password": old, "new_password": new},
        format="json",
        **bearer(access),
    )


def test_guessing_the_old_password_with_a_stolen_access_token_is_throttled(
    api, user, rates, throttle_cache
):
    # Per day, not the default per minute: a window's end falling inside the test would start
    # a fresh budget halfway through it.
    rates(username="10/day")
    stolen = login(api)["access_token"]
    statuses = []
    for _ in range(200):
        response = change_password(api, stolen)
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    # The login that gave the token was the first of the ten attempts.
    assert statuses == [400] * 9 + [429]
    assert_throttled(response)
    # Past the budget, the right guess tells nothing: not with a valid new password (the
    # password stays), not with an invalid one (no "weak password" that would confirm it).
    assert_throttled(change_password(api, stolen, old=PASSWORD))
    assert_throttled(change_password(api, stolen, old=PASSWORD, new="short"))
    rates(username=None)
    assert change_password(api, stolen, old=PASSWORD).status_code == 200


def test_a_right_old_password_with_an_invalid_new_one_answers_like_a_wrong_one(api, user):
    access = login(api)["access_token"]
    right = change_password(api, access, old=PASSWORD, new="short")
    wrong = change_password(api, access, old=WRONG, new="short")
    assert right.status_code == wrong.status_code == 400
    assert right.json() == wrong.json()
    assert "old_password" not in right.json()["errors"]


def test_login_token_endpoint_password_change_and_admin_share_one_budget(
    api, client, make_user, rates, throttle_cache
):
    make_user("root", is_staff=True, is_superuser=True)
    access = login(api, "root")["access_token"]
    rates(username="4/day")
    assert attempt(api, "root").status_code == 400
    assert password_grant(api, " Root").status_code == 400
    assert change_password(api, access).status_code == 400
    admin = client.post(ADMIN_LOGIN, {"username": "ROOT", "password": WRONG})
    assert admin.status_code == 200  # the login page again, with its error
    # The budget is spent, whichever door is knocked on next.
    assert_throttled(attempt(api, "root", PASSWORD))
    assert_throttled(password_grant(api, "root", PASSWORD))
    assert_throttled(change_password(api, access, old=PASSWORD))
    assert client.post(ADMIN_LOGIN, {"username": "root", "password": PASSWORD}).status_code == 429


# --- Django's admin login ------------------------------------------------------------------------

ADMIN_LOGIN = "/admin/login/"


def test_thirty_wrong_admin_passwords_for_a_superuser_are_throttled(client, make_user, rates):
    make_user("root", is_staff=True, is_superuser=True)
    rates(username="10/day")
    statuses = [
        client.post(ADMIN_LOGIN, {"username": "root", "password": f"guess-{n}"}).status_code
        for n in range(30)
    ]
    assert statuses == [200] * 10 + [429] * 20
    response = client.post(ADMIN_LOGIN, {"username": "root", "password": PASSWORD})
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 86400
    assert b"Too many login attempts" in response.content
    # Not logged in: the admin index still sends the visitor to the login page.
    assert client.get("/admin/").status_code == 302
    rates(username=None)
    response = client.post(ADMIN_LOGIN, {"username": "root", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_admin_login_is_also_throttled_per_address(client, make_user, rates):
    rates(address="3/day")
    for name in ("carol", "dave", "erin"):
        assert client.post(ADMIN_LOGIN, {"username": name, "password": WRONG}).status_code == 200
    assert client.post(ADMIN_LOGIN, {"username": "frank", "password": WRONG}).status_code == 429


def test_admin_login_page_itself_is_not_counted(client, rates):
    rates(address="1/day", username="1/day")
    for _ in range(5):
        assert client.get(ADMIN_LOGIN).status_code == 200


# --- A cache that fails answers 503, logged once ---------------------------------------------


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.thaw()
    server.stop()


def break_by(fault, server):
    client = server.client()
    if fault == "out_of_memory":
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", "1")
    elif fault == "read_only":
        client.replicaof("127.0.0.1", free_port())
    elif fault == "stopped":
        server.stop()
    elif fault == "frozen":
        server.freeze()


CAUSES = {
    "out_of_memory": "OutOfMemoryError",
    "read_only": "ReadOnlyError",
    "stopped": "ConnectionError",
    "frozen": "TimeoutError",
}
BACKENDS = {
    "django-redis": (
        "django_redis.cache.RedisCache",
        {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
    ),
    "django": (
        "django.core.cache.backends.redis.RedisCache",
        {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    ),
}


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("fault", sorted(CAUSES))
def test_every_cache_fault_answers_503_with_retry_after_logged_once(
    api, client, user, settings, own_redis, caplog, backend, fault
):
    access = login(api)["access_token"]
    engine, options = BACKENDS[backend]
    settings.CACHES = {
        **settings.CACHES,
        "throttles": {
            "BACKEND": engine,
            "LOCATION": f"redis://127.0.0.1:{own_redis.port}/0",
            "OPTIONS": options,
        },
    }
    settings.TOKENS = {**settings.TOKENS, "THROTTLE_CACHE_ALIAS": "throttles"}
    assert attempt(api, password=PASSWORD).status_code == 200  # the cache works
    break_by(fault, own_redis)

    calls = {
        "login": lambda: attempt(api, password=PASSWORD),
        "token": lambda: password_grant(api, "alice", PASSWORD),
        "password": lambda: change_password(api, access, old=PASSWORD),
        "admin": lambda: client.post(ADMIN_LOGIN, {"username": "alice", "password": PASSWORD}),
    }
    for name, call in calls.items():
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="tokens"):
            response = call()
        assert response.status_code == 503, (name, response.content)
        assert int(response["Retry-After"]) >= 1
        if name != "admin":
            assert response.json()["code"] == "store_unavailable"
        errors = [r for r in caplog.records if r.name.startswith("tokens")]
        assert len(errors) == 1, (name, errors)
        assert errors[0].levelno == logging.ERROR
        assert CAUSES[fault] in errors[0].getMessage(), errors[0].getMessage()
    own_redis.thaw()


def test_a_cache_that_keeps_nothing_refuses_rather_than_lets_guesses_through(api, user, settings):
    settings.CACHES = {
        **settings.CACHES,
        "throttles": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
    }
    settings.TOKENS = {**settings.TOKENS, "THROTTLE_CACHE_ALIAS": "throttles"}
    response = attempt(api, password=PASSWORD)
    assert response.status_code == 503
    assert response.json()["code"] == "store_unavailable"


def test_a_database_cache_without_its_table_answers_503(api, user, settings):
    settings.CACHES = {
        **settings.CACHES,
        "throttles": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "no_such_table",
        },
    }
    settings.TOKENS = {**settings.TOKENS, "THROTTLE_CACHE_ALIAS": "throttles"}
    response = attempt(api, password=PASSWORD)
    assert response.status_code == 503
    assert response.json()["code"] == "store_unavailable"


# --- State grows with addresses and usernames, not with attempts (issue 23) --------------------


def test_two_thousand_logins_over_190_usernames_leave_one_key_per_address_and_username():
    # Per day: no window ends during the run, so each address and username has one counter
    # (a window that did end would add one key, never one per attempt).
    counted = measure(
        f"redis://127.0.0.1:{TEST_REDIS_PORT}/0",
        rates={"tokens_login_address": "100000/day", "tokens_login_username": "100000/day"},
    )
    assert counted["statuses"] == {"400": 2000}
    assert 1 + 190 <= counted["keys"] <= 2 * (1 + 190), counted
    assert 0 < counted["max_ttl_seconds"] <= 86400 + 1


def test_an_address_past_its_budget_leaves_no_key_for_the_usernames_it_tries():
    counted = measure(
        f"redis://127.0.0.1:{TEST_REDIS_PORT}/0",
        rates={"tokens_login_address": "60/day", "tokens_login_username": "10/day"},
    )
    assert counted["statuses"] == {"400": 60, "429": 1940}
    # The address's counter and the 60 usernames its budget let through.
    assert 1 + 60 <= counted["keys"] <= 2 * (1 + 60), counted


def test_attempts_refused_by_the_address_do_not_spend_the_usernames_budget(
    api, user, make_user, rates
):
    rates(address="3/day", username="6/day")
    for _ in range(3):
        assert attempt(api, address="10.0.0.66").status_code == 400
    # The attacker's address is past its budget: its guesses at alice are refused unchecked...
    for _ in range(10):
        assert_throttled(attempt(api, address="10.0.0.66"))
    # ...and cost alice's budget nothing: three of her six are left.
    assert attempt(api, address="192.0.2.7").status_code == 400
    assert attempt(api, address="192.0.2.7").status_code == 400
    assert attempt(api, password=PASSWORD, address="192.0.2.8").status_code == 200
    assert_throttled(attempt(api, password=PASSWORD, address="192.0.2.8"))


def test_a_file_based_cache_is_refused_by_a_system_check(settings, tmp_path):
    from tokens.checks import check_settings

    settings.CACHES = {
        **settings.CACHES,
        "throttles": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path),
        },
    }
    settings.TOKENS = {**settings.TOKENS, "THROTTLE_CACHE_ALIAS": "throttles"}
    messages = check_settings()
    assert [m.id for m in messages] == ["tokens.E011"]
    assert "THROTTLE_CACHE_ALIAS" in str(messages[0].hint)
