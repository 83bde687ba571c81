"""The benchmark harness runs end to end, and the costs its figures rely on hold.

No timing assertions here (speed is measured by `make bench`, not asserted): the tiny run only
proves that the harness produces its table, and the other tests count SQL statements and Redis
round trips, which do not depend on the machine.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, bearer, login


@pytest.mark.live
@pytest.mark.timeout(480)
def test_tiny_bench_run_prints_and_writes_the_table(tmp_path):
    output = tmp_path / "bench.md"

    result = subprocess.run(
        [
            *(sys.executable, "-m", "bench.run", "--tiny", "--db", "sqlite"),
            *("--db-store", "sqlite", "--output", str(output)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=460,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    table = output.read_text()
    assert table in result.stdout
    for row in (
        "| bare DRF view, no auth (the floor) |",
        "| a refresh's I/O alone: one Redis command and the user check, no tokens |",
        "| authenticated GET, answers the user id alone (this app only) |",
        "| authenticated GET, answers `{id, username}` (the user's row read) |",
        "| refresh (chains; simplejwt: rotation + blacklist) |",
        "| login (PBKDF2, Django default) |",
        "| after 500 more rotations |",
        "| refresh >= 4x simplejwt + blacklist (SQLite) |",
    ):
        assert row in table
    # simplejwt is the anchor project, served apart from this app.
    assert "served by its own gunicorn (2 sync workers) from its own virtualenv" in table
    assert table.count("errors (non-2xx or socket) over all runs: 0.") == 2
    # Every row of the CPU table has figures: the workers did the work, wrk sent it.
    cpu = table[table.index("CPU per request (SQLite)") :].split("\n\n")[1].splitlines()[2:]
    assert len(cpu) == 10
    for line in cpu:
        workers, _redis, wrk, total = (cell.strip() for cell in line.split("|")[2:6])
        assert float(workers.replace(",", "")) > 0, line
        assert float(wrk.replace(",", "")) > 0, line
        assert float(total.replace(",", "")) > 0, line
    for row in (
        "| refresh p50 <= 1.25x simplejwt's authenticated GET p50 (same run) (SQLite) |",
        "| CPU per request, all processes: refresh vs simplejwt's authenticated GET (SQLite) |",
        "| authenticated GET (`{id, username}`) >= 1.0x simplejwt (SQLite, database store) |",
    ):
        assert row in table
    # The Redis topologies: this app's refresh and GET on Sentinel and Cluster vs one Redis.
    assert "### Redis topologies: one Redis, Sentinel, Cluster" in table
    for topology in ("single", "sentinel", "cluster"):
        assert f"| refresh (chains) | {topology} |" in table
        assert f"| authenticated GET, answers the user id | {topology} |" in table
    assert "100,000 users' session keys on the cluster:" in table
    assert "Errors (non-2xx or socket) over all runs: 0." in table
    # The database store's run: its own table, and its rows flat across the rotations.
    assert "### SQLite, database store" in table
    assert (
        "| rows constant across 500 rotations (SQLite, database store) | 1,000 rows before, "
        "1,000 after | yes |" in table
    )


def redis_round_trips(redis_server) -> int:
    # One read event per round trip; the INFO asking for it is one more.
    return int(redis_server.info("stats")["total_reads_processed"])


@pytest.mark.django_db
def test_a_view_that_needs_only_the_user_id_costs_one_redis_round_trip_and_no_sql(
    api, user, redis_server, django_assert_num_queries
):
    body = login(api)
    before = redis_round_trips(redis_server)

    with django_assert_num_queries(0):
        response = api.get("/api/auth/sessions", **bearer(body["access_token"]))

    assert response.status_code == 200
    # The session check, and the session list the view itself reads.
    assert redis_round_trips(redis_server) - before - 1 == 2


@pytest.mark.django_db
def test_a_view_that_reads_the_user_loads_it_once(
    api, user, redis_server, django_assert_num_queries
):
    body = login(api)
    before = redis_round_trips(redis_server)

    with django_assert_num_queries(1):
        response = api.get("/api/user/info", **bearer(body["access_token"]))

    assert response.status_code == 200
    assert response.json()["username"] == "alice"
    assert redis_round_trips(redis_server) - before - 1 == 1


@pytest.mark.django_db
def test_a_user_deactivated_by_a_queryset_update_loses_access_where_the_user_is_read(
    api, user, django_user_model
):
    body = login(api)
    # update() sends no signal, so the session is still live in Redis.
    django_user_model.objects.filter(pk=user.pk).update(is_active=False)

    response = api.get("/api/user/info", **bearer(body["access_token"]))

    assert response.status_code == 401
    assert response.json()["code"] == "session_revoked"
    assert response["WWW-Authenticate"].startswith("Bearer")
    refresh = api.post("/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json")
    assert refresh.status_code == 403
    assert refresh.json()["code"] == "session_revoked"


@pytest.mark.django_db
def test_the_password_change_keeps_the_calling_session(api, user):
    body = login(api)
    other = login(api)

    response = api.post(
        "/api/user/password",
        {"old_password": "correct-horse-battery", "new_password": "a-new-long-passphrase-42"},
        format="json",
        **bearer(body["access_token"]),
    )

    assert response.status_code == 200, response.content
    assert api.get("/api/user/info", **bearer(body["access_token"])).status_code == 200
    assert api.get("/api/user/info", **bearer(other["access_token"])).status_code == 401


def postgres_runs(refresh_p50_ms: float, simplejwt_get_p50_ms: float) -> list[dict]:
    """Return one round of every scenario on PostgreSQL with the given medians, for the report."""

    def run(key: str, impl: str, p50_ms: float, rps: float = 1000.0) -> dict:
        return {
            "key": key,
            "impl": impl,
            "round": 0,
            "rps": rps,
            "p50_us": p50_ms * 1000,
            "cpu_total_us": p50_ms * 500,
            "redis_trips": 1.0 if impl == "ours" else 0.0,
        }

    return [
        run("bare", "ours", 1.0),
        run("bare", "simplejwt", 1.0),
        run("io_floor", "-", 2.0),
        run("get_id", "-", 2.0, 1800.0),
        run("get", "ours", 2.5, 1500.0),
        run("get", "simplejwt", simplejwt_get_p50_ms),
        run("refresh", "ours", refresh_p50_ms, 700.0),
        run("refresh", "simplejwt", 16.0, 200.0),
    ]


@pytest.mark.parametrize(("refresh_p50_ms", "met"), [(4.3, "yes"), (4.5, "**no**")])
def test_the_refresh_median_target_is_simplejwts_authenticated_get_in_the_same_run(
    refresh_p50_ms, met
):
    from bench.report import render_targets

    result = {
        "database": "PostgreSQL",
        "store": "redis",
        "runs": postgres_runs(refresh_p50_ms, 3.5),
    }

    table = "\n".join(render_targets([result], None))

    assert (
        "| refresh p50 <= 1.25x simplejwt's authenticated GET p50 (same run) (PostgreSQL) | "
        f"{refresh_p50_ms:.2f} ms vs 3.50 ms ({refresh_p50_ms / 3.5:.2f}x) | {met} |" in table
    )
    assert (
        "| authenticated GET (`{id, username}`) >= 1.2x simplejwt (PostgreSQL) | 1.50x | yes |"
        in (table)
    )
    assert "| refresh >= 4x simplejwt + blacklist (PostgreSQL) | 3.50x | **no** |" in table


def test_the_database_stores_targets_are_its_own():
    from bench.report import render_targets

    result = {
        "database": "PostgreSQL",
        "store": "database",
        "runs": postgres_runs(5.0, 3.5),
        "rows": {"rotations": 100_000, "rows_created": 2000, "rows_after": 2000},
    }

    table = "\n".join(render_targets([result], None))

    assert "| refresh >= 2x simplejwt + blacklist (PostgreSQL, database store) | 3.50x | yes |" in (
        table
    )
    assert (
        "| authenticated GET (`{id, username}`) >= 1.0x simplejwt (PostgreSQL, database store) "
        "| 1.50x | yes |" in table
    )
