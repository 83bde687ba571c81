"""A ten-second soak: 300 users against 3 gunicorn workers, access tokens of four seconds.

It asserts correctness only (no errors, no false logouts, no lost sessions): how many requests
a busy 2-core machine serves in ten seconds is no failure. Throughput is `make soak`'s (60
seconds, written to docs/soak.md; see soak/).
"""

import pytest
from django.contrib.auth.hashers import make_password

from soak.load import run
from tests.conftest import PASSWORD

USERS = 300


@pytest.mark.live
def test_ten_second_soak_has_no_errors_and_loses_no_session(
    gunicorn_servers, transactional_db, django_user_model
):
    password = make_password(PASSWORD)
    names = [f"soak-{i}" for i in range(USERS)]
    django_user_model.objects.bulk_create(
        django_user_model(username=name, password=password) for name in names
    )
    server = gunicorn_servers(TEST_ACCESS_SECONDS="4")
    report = run(server.url, names, PASSWORD, seconds=10, think=2.0, ramp=2.0)
    print(report.summary())
    assert report.errors == []
    assert report.lost_sessions == []
    # Every user logged in, and every session refreshed once more at the end (a refusal there
    # would be a lost session, anything else an error). How many calls fit in the ten seconds
    # is throughput, and not asserted.
    assert report.statuses["login 200"] == USERS
    assert report.statuses["refresh 200"] >= USERS
    # The run did what it is for: access tokens expired while in use and were refreshed.
    assert report.statuses["call 401 access_token_expired"] > 0
