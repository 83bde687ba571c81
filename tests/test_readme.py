"""The README's curl walk-through works exactly as written, against a real gunicorn server."""

import json
import re
import subprocess

import pytest

from tests.conftest import ROOT


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- walkthrough -->\n```sh\n(.*?)```", readme, re.S)
    assert match, "README.md lost its walk-through block"
    return match.group(1)


@pytest.mark.live
def test_readme_walkthrough_runs_as_written(gunicorn_server, django_user_model, tmp_path):
    django_user_model.objects.create_user("demo", password="demo-password-123")
    script = walkthrough()
    assert "API=http://127.0.0.1:8000/api" in script
    # Only the server's address changes: the test server listens on a free port.
    script = script.replace("http://127.0.0.1:8000", gunicorn_server.url)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith('{"id":') and '"username":"demo"' in lines[0]
    assert '"username":"demo"' in lines[1]
    # The session list: the one session, marked as the one asking.
    sessions = json.loads(lines[2])
    assert len(sessions) == 1
    assert sessions[0]["current"] is True
    assert lines[3] == '{"detail":"Logged out."}'
    assert lines[4] == "401"
