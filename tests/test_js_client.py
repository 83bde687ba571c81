"""The JS client's unit tests (tests/js/*.test.mjs) under Node's built-in test runner."""

import re
import shutil
import subprocess

from tests.conftest import ROOT


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
