"""The anchor's side of the bench, run by the anchor's own Python (its virtualenv), not ours.

    <anchor venv>/bin/python bench/anchor_side.py prep OUT_DIR USERS CHAINS ROUNDS PASSWORD
    <anchor venv>/bin/python bench/anchor_side.py rows
    <anchor venv>/bin/python bench/anchor_side.py rotations COUNT

The working directory is the anchor project (bench/anchor.py sets it, and the environment its
settings read: PG, PGDATABASE, PGHOST, PGUSER or SQLITE_PATH). `prep` migrates the anchor's
database, creates the bench users, mints the tokens the wrk scripts present, counts the SQL of
one request per endpoint and prints a JSON summary; `rows` prints the blacklist tables' rows;
`rotations` rotates one refresh token through simplejwt's serializer and prints what it cost.
Nothing here imports this project: the anchor's interpreter has only the anchor's packages.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

# sys.path[0] is bench/, whose settings.py and urls.py are this project's: the anchor's own
# modules come from the working directory instead.
sys.path[0] = os.getcwd()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproj.settings")


def setup() -> None:
    import django

    django.setup()


def rows() -> int:
    """Return the rows of simplejwt's outstanding and blacklisted token tables."""
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    return OutstandingToken._default_manager.count() + BlacklistedToken._default_manager.count()


def prep(out: Path, users: int, chains: int, rounds: int, password: str) -> dict[str, Any]:
    """Migrate, create `users` users, write the token files; return ids, SQL counts, rows."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
    from rest_framework_simplejwt.tokens import RefreshToken

    call_command("migrate", verbosity=0, interactive=False)
    model = get_user_model()
    model.objects.filter(username__startswith="bench-").delete()
    OutstandingToken._default_manager.all().delete()  # cascades to BlacklistedToken
    hashed = make_password(password)  # once: the same PBKDF2 hash for every user
    model.objects.bulk_create(
        model(username=f"bench-{i}", email=f"bench-{i}@example.com", password=hashed)
        for i in range(users)
    )
    people = list(model.objects.filter(username__startswith="bench-").order_by("pk"))
    files: dict[str, str] = {}

    def write(name: str, lines: list[str]) -> None:
        path = out / f"sj_{name}.txt"
        path.write_text("\n".join(lines) + "\n")
        files[name] = str(path)

    write("access", [str(RefreshToken.for_user(user).access_token) for user in people])
    for round_no in range(rounds):
        write(f"refresh_{round_no}", [str(RefreshToken.for_user(u)) for u in people[:chains]])
    write(
        "logins",
        [json.dumps({"username": u.get_username(), "password": password}) for u in people[:16]],
    )

    client = Client(HTTP_HOST="127.0.0.1")
    user = people[0]
    refresh = RefreshToken.for_user(user)
    login = {"username": user.get_username(), "password": password}
    requests = {
        "bare": ("get", "/api/ping", None, None),
        "get": ("get", "/api/user/info", str(refresh.access_token), None),
        "refresh": ("post", "/api/auth/refresh", None, {"refresh": str(refresh)}),
        "login": ("post", "/api/auth/login", None, login),
    }
    sql: dict[str, int] = {}
    for key, (method, path, bearer, body) in requests.items():
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        with CaptureQueriesContext(connection) as queries:
            if method == "get":
                response = client.get(path, headers=headers)
            else:
                response = client.post(path, body, content_type="application/json", headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.content!r}")
        sql[key] = len(queries.captured_queries)
    return {"files": files, "sql": sql, "rows": rows()}


def rotations(count: int) -> dict[str, Any]:
    """Rotate one refresh token `count` times through simplejwt's serializer; count rows."""
    from django.contrib.auth import get_user_model
    from rest_framework_simplejwt.serializers import TokenRefreshSerializer
    from rest_framework_simplejwt.tokens import RefreshToken

    user = get_user_model().objects.filter(username__startswith="bench-").order_by("pk")[0]
    before = rows()
    raw = str(RefreshToken.for_user(user))
    started = time.perf_counter()
    for _ in range(count):
        serializer = TokenRefreshSerializer(data={"refresh": raw})
        serializer.is_valid(raise_exception=True)
        raw = serializer.validated_data["refresh"]
    elapsed = time.perf_counter() - started
    return {"rotations": count, "rows_before": before, "rows_after": rows(), "seconds": elapsed}


def main(argv: list[str]) -> None:
    setup()
    command = argv[0]
    if command == "prep":
        out, users, chains, rounds, password = argv[1:6]
        result: Any = prep(Path(out), int(users), int(chains), int(rounds), password)
    elif command == "rows":
        result = rows()
    elif command == "rotations":
        result = rotations(int(argv[1]))
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
