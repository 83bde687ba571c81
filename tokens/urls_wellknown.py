"""Deprecated: include `tokens.authserver.urls` instead (the same RFC 8414 metadata URL).

Kept so that sites written against the earlier layout keep working; it warns once at import.
"""

from __future__ import annotations

import warnings

from .authserver.urls import urlpatterns

warnings.warn(
    'tokens.urls_wellknown moved: include("tokens.authserver.urls") instead.',
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["urlpatterns"]
