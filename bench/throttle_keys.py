"""Count the Redis keys and bytes the login throttles leave: 2,000 logins, 190 usernames, 1 address.

    python -m bench.throttle_keys                                  # its own Redis, free port
    python -m bench.throttle_keys --redis-url redis://127.0.0.1:PORT/0

Issue 23's target: the throttles' state grows with the addresses and usernames seen in a window,
not with the attempts. Each login goes through the login endpoint's throttles
(`tokens.throttling.LOGIN_THROTTLES`), checked as DRF checks them for `POST /api/auth/login`,
counting in a django-redis cache of its own key prefix (the keys of anything else in that Redis
are neither counted nor touched); the password check after them writes nothing to Redis, so it
is left out. Measured twice: with the rates out of the way, as the bench's settings set them
(every login counted on both budgets), and with the site's default rates (60/min per address,
10/min per username). `measure()` configures Django with `bench.settings` when nothing has
configured it yet.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import uuid
from collections import Counter
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

OUT_OF_THE_WAY = {"tokens_login_address": "1000000/min", "tokens_login_username": "1000000/min"}
SITE_DEFAULTS = {"tokens_login_address": "60/min", "tokens_login_username": "10/min"}
ALIAS = "bench_throttle_keys"


def measure(
    redis_url: str | None = None,
    *,
    logins: int = 2000,
    usernames: int = 190,
    address: str = "203.0.113.7",
    rates: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """Send `logins` login attempts over `usernames` names from one address; count what stays.

    Return the attempts' statuses (400: the password would be checked; 429: throttled), the
    throttle keys left in Redis, their bytes (`MEMORY USAGE`, summed) and their longest TTL.
    Without `redis_url`, start a Redis of its own on a free port and stop it after.
    """
    import django
    import redis
    from django.apps import apps
    from django.conf import settings

    if not settings.configured:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    if not apps.ready:
        django.setup()

    from django.test import override_settings
    from rest_framework.response import Response
    from rest_framework.test import APIRequestFactory
    from rest_framework.views import APIView

    from tests.harness import RedisServer
    from tokens.throttling import LOGIN_THROTTLES

    class Login(APIView):
        """The login endpoint's throttles, in front of a password that is always wrong."""

        authentication_classes = ()
        permission_classes = ()
        throttle_classes = LOGIN_THROTTLES

        def post(self, request: Any) -> Response:
            return Response({"code": "invalid_credentials"}, status=400)

    with ExitStack() as stack:
        if redis_url is None:
            server = stack.enter_context(RedisServer(tempfile.mkdtemp(prefix="throttle-keys-")))
            redis_url = server.url
        prefix = f"throttle-keys-{uuid.uuid4().hex[:8]}"
        stack.enter_context(
            override_settings(
                CACHES={
                    **settings.CACHES,
                    ALIAS: {
                        "BACKEND": "django_redis.cache.RedisCache",
                        "LOCATION": redis_url,
                        "KEY_PREFIX": prefix,
                    },
                },
                TOKENS={**settings.TOKENS, "THROTTLE_CACHE_ALIAS": ALIAS},
                REST_FRAMEWORK={
                    **settings.REST_FRAMEWORK,
                    "DEFAULT_THROTTLE_RATES": rates or OUT_OF_THE_WAY,
                },
            )
        )
        view = Login.as_view()
        factory = APIRequestFactory()
        statuses: Counter[int] = Counter()
        for n in range(logins):
            request = factory.post(
                "/api/auth/login",
                {"username": f"user{n % usernames}", "password": "wrong-password"},
                format="json",
                REMOTE_ADDR=address,
            )
            statuses[view(request).status_code] += 1

        client = redis.Redis.from_url(redis_url)
        try:
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            sizes = [int(client.memory_usage(key) or 0) for key in keys]
            ttls = [int(client.ttl(key)) for key in keys]
            # Whatever else this Redis holds is not ours to keep: only the run's own keys go.
            if keys:
                client.delete(*keys)
        finally:
            client.close()
    return {
        "logins": logins,
        "usernames": usernames,
        "addresses": 1,
        "rates": dict(rates or OUT_OF_THE_WAY),
        "statuses": {str(status): count for status, count in sorted(statuses.items())},
        "keys": len(keys),
        "bytes": sum(sizes),
        "bytes_per_key": round(sum(sizes) / len(keys), 1) if keys else 0,
        "max_ttl_seconds": max(ttls, default=0),
    }


def main(argv: list[str] | None = None) -> None:
    """Print both measurements as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis-url", help="a Redis to count in (default: one of its own)")
    parser.add_argument("--logins", type=int, default=2000)
    parser.add_argument("--usernames", type=int, default=190)
    args = parser.parse_args(argv)
    results = {
        name: measure(args.redis_url, logins=args.logins, usernames=args.usernames, rates=rates)
        for name, rates in (
            ("rates_out_of_the_way", OUT_OF_THE_WAY),
            ("site_defaults", SITE_DEFAULTS),
        )
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
