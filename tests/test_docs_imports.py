"""Every import path the docs name works: a newcomer can paste any of them.

The README and docs/*.md name modules, classes, functions and settings values as dotted paths
(`tokens.stores.db.DatabaseStore`, `tokens.authserver.urls`); each must import, whether it
lives there or is kept by a deprecation shim after a move.
"""

from __future__ import annotations

import importlib
import re
import warnings

import pytest

from tests.conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DOTTED = re.compile(r"\btokens(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
# Dotted names in the docs that are not import paths: system check ids (tokens.E001), the
# admin's permission codenames (app_label.codename) and Redis key prefixes.
NOT_IMPORTS = re.compile(r"^tokens\.([EW]\d{3}|view_\w+|add_\w+|change_\w+|delete_\w+|store)$")


def _documented_paths() -> list[str]:
    found: set[str] = set()
    for doc in DOCS:
        for match in DOTTED.finditer(doc.read_text(encoding="utf-8")):
            name = match.group(0).rstrip(".")
            if not NOT_IMPORTS.match(name):
                found.add(name)
    return sorted(found)


def _resolve(path: str) -> object:
    """Import the longest module prefix of `path`, then read the rest as attributes."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            with warnings.catch_warnings():
                # A deprecation shim warns on import: it still answers.
                warnings.simplefilter("ignore", DeprecationWarning)
                target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            target = getattr(target, attribute)
        return target
    raise ModuleNotFoundError(path)


@pytest.mark.parametrize("path", _documented_paths())
def test_a_documented_import_path_imports(path):
    assert _resolve(path) is not None


def test_the_moved_metadata_urls_still_work_from_their_old_path_and_say_where_they_went():
    import sys

    sys.modules.pop("tokens.urls_wellknown", None)
    with pytest.warns(DeprecationWarning, match="tokens.authserver.urls"):
        old = importlib.import_module("tokens.urls_wellknown")
    new = importlib.import_module("tokens.authserver.urls")
    assert old.urlpatterns == new.urlpatterns
