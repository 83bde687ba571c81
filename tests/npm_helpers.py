"""npm for the tests: install a package.json's locked dependencies, build the Vue example.

The JS package (package.json at the repository root) and the Vue example (examples/vue) pin
their dependencies in package-lock.json; `npm ci` installs exactly those, once per lockfile
change, so a fresh machine needs only `npm` and the registry.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VUE = ROOT / "examples" / "vue"


def npm() -> str:
    """Return the npm executable, or fail saying how to get it."""
    found = shutil.which("npm")
    assert found, "the JS package and the Vue example need npm (apt-get install npm)"
    return found


def run_npm(directory: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `npm args` in `directory`; fail with its output if it fails."""
    result = subprocess.run(
        [npm(), *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"npm {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def npm_ci(directory: Path) -> None:
    """Install `directory`'s locked dependencies unless node_modules already matches the lock."""
    installed = directory / "node_modules" / ".package-lock.json"
    lock = directory / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    run_npm(directory, "ci", "--no-audit", "--no-fund")


def build_vue_example() -> Path:
    """Build examples/vue with Vite (installing its dependencies first); return its dist/."""
    npm_ci(VUE)
    run_npm(VUE, "run", "build")
    dist = VUE / "dist"
    assert (dist / "index.html").is_file()
    return dist
