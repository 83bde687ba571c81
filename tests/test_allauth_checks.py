"""System checks for a site whose allauth sign-ins end in the app's sessions (W030, W031)."""

from __future__ import annotations

import pytest

from tokens.checks import check_allauth_integration

STRATEGY = "tokens.contrib.allauth.TokenStrategy"
MIDDLEWARE = "tokens.contrib.allauth.RefreshCookieMiddleware"


def ids(messages):
    return [message.id for message in messages]


def test_the_demo_s_allauth_settings_pass():
    assert check_allauth_integration() == []


def test_the_cookie_transport_without_its_middleware_is_reported(settings):
    settings.MIDDLEWARE = [name for name in settings.MIDDLEWARE if name != MIDDLEWARE]
    assert ids(check_allauth_integration()) == ["tokens.W030"]


def test_a_second_factor_that_the_app_s_password_login_would_skip_is_reported(settings):
    settings.TOKENS = {**settings.TOKENS, "PASSWORD_LOGIN_ALLOWED": None}
    assert ids(check_allauth_integration()) == ["tokens.W031"]


@pytest.mark.parametrize(
    "strategy", [None, "allauth.headless.tokens.strategies.jwt.JWTTokenStrategy"]
)
def test_a_site_without_the_app_s_strategy_gets_neither(settings, strategy):
    settings.HEADLESS_TOKEN_STRATEGY = strategy
    settings.MIDDLEWARE = [name for name in settings.MIDDLEWARE if name != MIDDLEWARE]
    settings.TOKENS = {**settings.TOKENS, "PASSWORD_LOGIN_ALLOWED": None}
    assert check_allauth_integration() == []
