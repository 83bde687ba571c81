"""Password attempts are throttled per username and per client address, in Redis."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import PASSWORD

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


def test_throttle_counts_in_redis_shared_by_every_worker(
    gunicorn_servers, transactional_db, make_user
):
    make_user("alice")
    server = gunicorn_servers(TEST_THROTTLE_USERNAME="5/day")

    def guess(_):
        return httpx.post(
            f"{server.url}{LOGIN}",
            json={"username": "alice", "password": "wrong-password"},
            timeout=10,
        ).status_code

    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(guess, range(24)))
    # Three workers, twelve at a time: exactly five guesses get through, not five per worker.
    assert statuses.count(400) == 5
    assert statuses.count(429) == 19
