"""The layers import downwards only: the store layer and the domain errors never load DRF.

A store is usable without the API (admin, management commands, another service's resource
server); `tokens.errors` holds the plain errors it raises, `tokens.exceptions` the API ones.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

# Import every module of the store package (the database store's models too, and stores added
# later) in a fresh interpreter, and report which web-API frameworks got loaded along the way.
# The tokens app is installed for its models, without its ready(): that connects the receivers,
# which call the services, the layer above the stores.
PROBE = """
import importlib, json, pkgutil, sys
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "tokens"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
)
import tokens.apps
tokens.apps.TokensConfig.ready = lambda self: None
django.setup()
import tokens.errors, tokens.rules, tokens.stores
for module in pkgutil.walk_packages(tokens.stores.__path__, "tokens.stores."):
    importlib.import_module(module.name)
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("tokens", "rest_framework",
    "rest_framework_simplejwt", "drf_spectacular"))
print(json.dumps(loaded))
"""


def test_the_store_layer_and_the_domain_errors_import_no_drf():
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": ""},
    )

    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert {"tokens.stores.redis", "tokens.stores.db"} <= set(loaded)
    assert "tokens.errors" in loaded
    assert not [name for name in loaded if not name.startswith("tokens")], loaded
    # Nor the API side of the package.
    assert "tokens.exceptions" not in loaded
    assert "tokens.services" not in loaded


def _import_cycles(package: str) -> list[list[str]]:
    """Return the groups of modules of `package` that import each other, directly or not.

    Tarjan's strongly connected components over grimp's graph of every import statement,
    those inside functions included (the usual way a circle hides).
    """
    import grimp

    graph = grimp.build_graph(package)
    edges = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in edges[module]:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = [stack.pop()]
            while group[-1] != module:
                group.append(stack.pop())
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return cycles


def test_no_module_of_the_package_imports_itself_back():
    assert _import_cycles("tokens") == []


def test_the_layering_contracts_hold():
    # The same check `make lint` runs: the contracts of [tool.importlinter] in pyproject.toml.
    result = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
