"""The test settings: the suite's token lifetimes do not follow the developer's shell."""

import os
import subprocess
import sys

from tests.conftest import ROOT

READ_LIFETIMES = (
    "import django; django.setup(); from django.conf import settings; "
    "jwt = settings.SIMPLE_JWT; "
    "print(jwt['ACCESS_TOKEN_LIFETIME'].total_seconds(), jwt['REFRESH_TOKEN_LIFETIME'].days)"
)


def lifetimes(**env: str) -> str:
    """Return the lifetimes tests.settings gives a fresh process with this environment."""
    base = {k: v for k, v in os.environ.items() if k != "TOKENS_TEST_RUN"}
    result = subprocess.run(
        [sys.executable, "-c", READ_LIFETIMES],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "tests.settings", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_a_test_run_ignores_access_token_seconds_from_the_developers_shell():
    # `make run ACCESS_TOKEN_SECONDS=30` exported in the shell, then `make test`.
    assert lifetimes(ACCESS_TOKEN_SECONDS="30") == "3600.0 7"


def test_a_server_the_run_starts_with_access_token_seconds_on_purpose_uses_it():
    # What tests/test_browser.py does to see the demo page refresh before expiry.
    assert lifetimes(ACCESS_TOKEN_SECONDS="30", TOKENS_TEST_RUN="1") == "30.0 7"
