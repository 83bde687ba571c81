"""The client's address, as every part of the app reads it: sessions, throttles, the admin login."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """Return the client's address: REMOTE_ADDR, or the X-Forwarded-For entry proxies vouch for.

    The rule of DRF's `BaseThrottle.get_ident()`, read from the same setting,
    `REST_FRAMEWORK["NUM_PROXIES"]`: 0 trusts no header; N takes the N-th address from the
    right of X-Forwarded-For (the one the outermost trusted proxy saw); unset (None) takes the
    whole header, which a client can write itself, so a site behind a proxy sets it. It lives
    here, not borrowed from DRF, so that the core (`tokens.services`) loads no DRF module.
    """
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    remote = request.META.get("REMOTE_ADDR") or ""
    num_proxies = getattr(settings, "REST_FRAMEWORK", {}).get("NUM_PROXIES")
    if num_proxies is not None:
        if num_proxies == 0 or forwarded is None:
            return remote
        addresses = forwarded.split(",")
        return addresses[-min(num_proxies, len(addresses))].strip()
    return "".join(forwarded.split()) if forwarded else remote
