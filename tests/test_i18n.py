"""Error details follow the client's language; codes never do. The catalogs are complete."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, bearer, login

LOCALE = Path(__file__).resolve().parent.parent / "tokens" / "locale"
LANGUAGES = ["de", "fr", "es", "pt_BR", "zh_Hans", "ja"]

pytestmark = pytest.mark.django_db


def test_german_client_gets_german_detail_with_the_same_code(api, user):
    english = api.post(
        "/api/auth/login", {"username": "alice", "password": "wrong"}, format="json"
    ).json()
    german = api.post(
        "/api/auth/login",
        {"username": "alice", "password": "wrong"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="de",
    )
    assert german.status_code == 400
    assert german.json() == {
        "code": english["code"],
        "detail": "Anmeldung mit den angegebenen Zugangsdaten nicht möglich.",
    }
    assert english == {
        "code": "invalid_credentials",
        "detail": "Unable to log in with the provided credentials.",
    }
    assert "Accept-Language" in german["Vary"]


def test_german_refresh_and_access_errors_keep_their_codes_and_statuses(api, user):
    de = {"HTTP_ACCEPT_LANGUAGE": "de-DE,de;q=0.9,en;q=0.5"}
    refresh = api.post("/api/auth/refresh", {"refresh_token": "x.y.z"}, format="json", **de)
    assert refresh.status_code == 403
    assert refresh.json() == {
        "code": "refresh_token_invalid",
        "detail": "Das Aktualisierungstoken ist ungültig.",
    }
    body = login(api)
    api.post("/api/auth/logout", **bearer(body["access_token"]))
    access = api.get("/api/auth/sessions", **bearer(body["access_token"]), **de)
    assert access.status_code == 401
    assert access["WWW-Authenticate"].startswith("Bearer")
    assert access.json() == {
        "code": "session_revoked",
        "detail": "Die Sitzung wurde beendet. Bitte melden Sie sich erneut an.",
    }


@pytest.mark.parametrize(
    ("accept", "detail"),
    [
        ("de", "Abgemeldet."),
        ("fr", "Déconnecté."),
        ("es", "Sesión cerrada."),
        ("pt-BR", "Sessão encerrada."),
        ("zh-Hans", "已退出登录。"),
        ("ja", "ログアウトしました。"),
        ("en", "Logged out."),
    ],
)
def test_every_shipped_language_answers_in_its_own_words(api, user, accept, detail):
    body = login(api)
    response = api.post(
        "/api/auth/logout", **bearer(body["access_token"]), HTTP_ACCEPT_LANGUAGE=accept
    )
    assert response.status_code == 200
    assert response.json() == {"detail": detail}


def test_unknown_path_404_is_translated_too(api):
    response = api.get("/api/auth/nothing-here", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert response.json()["detail"] != "Not found."


def test_plural_messages_follow_the_languages_plural_rules(api, make_user, db):
    make_user("bob")
    for _ in range(2):
        login(api, "bob")
    last = login(api, "bob")
    response = api.post(
        "/api/auth/logout-all", **bearer(last["access_token"]), HTTP_ACCEPT_LANGUAGE="de"
    )
    assert response.json() == {"detail": "3 Sitzungen beendet.", "ended": 3}
    one = login(api, "bob", PASSWORD)
    response = api.post(
        "/api/auth/logout-all", **bearer(one["access_token"]), HTTP_ACCEPT_LANGUAGE="de"
    )
    assert response.json() == {"detail": "1 Sitzung beendet.", "ended": 1}


def _msgunfmt(mo: Path) -> str:
    return subprocess.run(["msgunfmt", str(mo)], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("language", LANGUAGES)
def test_committed_catalog_is_complete_checked_and_compiled(language, tmp_path):
    po = LOCALE / language / "LC_MESSAGES" / "django.po"
    mo = LOCALE / language / "LC_MESSAGES" / "django.mo"
    text = po.read_text(encoding="utf-8")
    assert "#, fuzzy" not in text
    # --check: placeholders kept (python-format), plural forms and header sound.
    compiled = tmp_path / "django.mo"
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", str(compiled), str(po)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr
    # The shipped .mo is the .po compiled: nobody forgot `compilemessages`.
    assert _msgunfmt(mo) == _msgunfmt(compiled)


def test_catalogs_hold_every_translatable_message_of_the_app(tmp_path):
    # Extract the messages from a copy of the app, as a maintainer would, and compare.
    app = tmp_path / "tokens"
    shutil.copytree(
        LOCALE.parent, app, ignore=shutil.ignore_patterns("__pycache__", "*.mo", "*.po")
    )
    subprocess.run(
        [sys.executable, "-m", "django", "makemessages", "-l", "de", "--no-location"],
        cwd=app,
        capture_output=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ""},
    )
    fresh = app / "locale" / "de" / "LC_MESSAGES" / "django.po"
    for language in LANGUAGES:
        shipped = LOCALE / language / "LC_MESSAGES" / "django.po"
        # msgcmp fails when the fresh extraction has a message the shipped catalog lacks.
        result = subprocess.run(
            ["msgcmp", str(shipped), str(fresh)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, (
            f"{language}: run makemessages and translate\n{result.stderr}"
        )
