"""The JS client: its unit tests (tests/js/*.test.mjs) under Node's test runner, and the npm
package made of the same file (its declarations under tsc, its tarball installed and imported)."""

import json
import re
import shutil
import subprocess

from tests.conftest import ROOT
from tests.npm_helpers import npm_ci, run_npm


def test_js_client_unit_tests_pass_under_node():
    node = shutil.which("node")
    assert node, "the JS client's unit tests need Node.js 20+ (apt-get install nodejs)"
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "js").glob("*.test.mjs"))
    assert files
    result = subprocess.run(
        [node, "--test", "--test-reporter=tap", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert re.search(r"^# fail 0$", result.stdout, re.M), report
    passed = re.search(r"^# pass (\d+)$", result.stdout, re.M)
    assert passed and int(passed.group(1)) >= 30, report


def test_type_declarations_match_a_typed_application_under_tsc():
    # tests/js/types/usage.ts imports the package by its name and holds @ts-expect-error lines
    # for misuses, so a declaration that is missing, wrong or too loose fails the check.
    npm_ci(ROOT)
    result = subprocess.run(
        [str(ROOT / "node_modules" / ".bin" / "tsc"), "-p", "tsconfig.json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_npm_pack_makes_a_tarball_that_installs_and_imports(tmp_path):
    packed = run_npm(ROOT, "pack", "--json", "--pack-destination", str(tmp_path))
    (info,) = json.loads(packed.stdout)
    # The tarball carries the very file Django serves, and its declarations; nothing else of
    # the repository's (package.json and the README are always included).
    assert sorted(f["path"] for f in info["files"]) == [
        "README.md",
        "package.json",
        "tokens/static/tokens/auth-client.d.ts",
        "tokens/static/tokens/auth-client.js",
    ]
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "scratch", "private": true, "type": "module"}')
    run_npm(
        app, "install", "--no-audit", "--no-fund", "--offline", str(tmp_path / info["filename"])
    )
    script = (
        'import * as m from "django-tokens-auth-client";'
        "const c = m.createAuthClient({ channel: false, document: null, window: null });"
        "console.log(JSON.stringify({ exports: Object.keys(m).sort(), state: c.state,"
        " same: c instanceof m.AuthClient"
        " && new m.SessionExpiredError('x') instanceof m.AuthError }));"
        "c.close();"
    )
    result = subprocess.run(
        [shutil.which("node") or "node", "--input-type=module", "-e", script],
        cwd=app,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "exports": [
            "AuthClient",
            "AuthError",
            "LoginError",
            "RefreshFailedError",
            "SessionExpiredError",
            "attachAxios",
            "createAuthClient",
        ],
        "state": "unknown",
        "same": True,
    }
    installed = app / "node_modules" / "django-tokens-auth-client" / "tokens" / "static" / "tokens"
    assert (installed / "auth-client.js").read_bytes() == (
        ROOT / "tokens" / "static" / "tokens" / "auth-client.js"
    ).read_bytes()
