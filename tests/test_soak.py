"""A ten-second soak: 300 users against 3 gunicorn workers, access tokens of four seconds.

`make soak` runs the full one (60 seconds) and writes docs/soak.md; see soak/.
"""

from django.contrib.auth.hashers import make_password

from soak.load import run
from tests.conftest import PASSWORD

USERS = 300


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
    # Access tokens expired while in use and were refreshed; every session refreshed at the end.
    assert report.statuses["call 401 access_token_expired"] > 0
    assert report.statuses["refresh 200"] >= USERS
    assert report.statuses["call 200"] >= USERS
