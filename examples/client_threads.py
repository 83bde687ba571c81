"""A threaded worker pool: many threads share one client; an expiry costs one refresh."""

import os
from concurrent.futures import ThreadPoolExecutor

import httpx

from tokens.client import SessionExpired, TokenAuth

API = os.environ.get("TOKENS_API", "http://127.0.0.1:8000/api")


def session_over(error: SessionExpired) -> None:
    # Runs once, however many threads were waiting on the refresh that failed.
    print("session ended:", error.code)


auth = TokenAuth(
    API,
    username=os.environ.get("TOKENS_USERNAME", "demo"),
    password=os.environ.get("TOKENS_PASSWORD", "demo-password-123"),
    on_session_expired=session_over,
)


def job(client: httpx.Client, number: int) -> int:
    return client.get(f"{API}/user/info").status_code


with httpx.Client(auth=auth, timeout=10) as client, ThreadPoolExecutor(16) as pool:
    statuses = list(pool.map(lambda n: job(client, n), range(100)))
print(f"{statuses.count(200)} of {len(statuses)} requests succeeded")
auth.logout()
auth.close()
