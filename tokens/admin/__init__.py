"""Admin for sessions, one feature per module.

- `user_mixin`: `UserSessionsAdminMixin`, which a site composes into its own `UserAdmin` (a
  user's live sessions on the change page, an "End session" button each, and the
  `end_all_sessions` changelist action, `end_all_sessions_action`).
- `live_sessions`: the "Live sessions" page across all users (`LiveSessionAdmin`, registered
  on import, as Django's admin autodiscovery imports this package).
- `service_clients`: the introspection endpoint's service clients (`ServiceClientAdmin`).
"""

from __future__ import annotations

from .live_sessions import LiveSessionAdmin
from .service_clients import ServiceClientAdmin
from .user_mixin import UserSessionsAdminMixin, end_all_sessions_action

__all__ = [
    "LiveSessionAdmin",
    "ServiceClientAdmin",
    "UserSessionsAdminMixin",
    "end_all_sessions_action",
]
