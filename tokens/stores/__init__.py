"""Session stores. `get_store()` returns the one configured by `TOKENS["STORE"]`."""

from __future__ import annotations

from django.utils.module_loading import import_string

from ..conf import tokens_settings
from .base import BaseStore, Rotation, SessionRecord

__all__ = ["BaseStore", "Rotation", "SessionRecord", "get_store"]

_stores: dict[str, BaseStore] = {}


def get_store() -> BaseStore:
    """Return the configured store (one instance per dotted path, built on first use)."""
    path = tokens_settings.STORE
    store = _stores.get(path)
    if store is None:
        store = _stores[path] = import_string(path)()
    return store
