"""System checks of `TOKENS_RESOURCE` (ids `tokens_resource.E00x`).

Registered by `ResourceConfig.ready()`, so only a service that installs `tokens.resource` runs
them (importing this module registers nothing).
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error

from .conf import resource_settings


def check_resource_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Report what would make every request of the service answer 503 or 500."""
    errors: list[CheckMessage] = []
    if not resource_settings.JWKS_URL:
        errors.append(
            Error(
                'TOKENS_RESOURCE["JWKS_URL"] is not set: no access token can be verified.',
                hint="Set it to the auth server's JWK Set: https://<auth server>/api/auth/jwks.",
                id="tokens_resource.E001",
            )
        )
    mode = resource_settings.LIVENESS
    if mode not in ("store", "introspection"):
        errors.append(
            Error(
                f'TOKENS_RESOURCE["LIVENESS"] is {mode!r}.',
                hint='Use "store" (the shared Redis) or "introspection".',
                id="tokens_resource.E002",
            )
        )
    elif mode == "introspection":
        missing = [
            name
            for name in ("INTROSPECTION_URL", "CLIENT_ID", "CLIENT_SECRET")
            if not getattr(resource_settings, name)
        ]
        if missing:
            errors.append(
                Error(
                    f"Introspection needs TOKENS_RESOURCE {', '.join(missing)}.",
                    hint="Create the client at the auth server: manage.py tokens_clients add NAME.",
                    id="tokens_resource.E003",
                )
            )
    return errors
