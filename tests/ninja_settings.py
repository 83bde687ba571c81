"""The test settings for the uvicorn server of tests/test_ninja_live.py.

Its URLs are `tests.ninja_urls` (an async view that needs no session). Its Redis waits 30 s for
a reply instead of the site's 0.5 s: a request held by a stalled Redis then stays in flight for
the whole stall, while the test shows that the server's event loop answers other requests.
"""

from tests.settings import *  # noqa: F403
from tests.settings import CACHES

ROOT_URLCONF = "tests.ninja_urls"
CACHES = {
    **CACHES,
    "default": {
        **CACHES["default"],
        "OPTIONS": {**CACHES["default"].get("OPTIONS", {}), "SOCKET_TIMEOUT": 30},
    },
}
