"""A Python client for a django-tokens API: an `httpx.Auth` that makes refresh invisible.

    import httpx
    from tokens.client import TokenAuth

    auth = TokenAuth("http://127.0.0.1:8000/api", username="alice", password="...")
    with httpx.Client(auth=auth) as client:
        client.get("http://127.0.0.1:8000/api/user/info")

Needs only httpx (`pip install django-tokens[client]`); imports nothing from Django.
"""

from .auth import TokenAuth
from .errors import AuthUnavailable, ClientError, LoginFailed, SessionExpired
from .stores import FileTokenStore, MemoryTokenStore, Tokens, TokenStore

__all__ = [
    "AuthUnavailable",
    "ClientError",
    "FileTokenStore",
    "LoginFailed",
    "MemoryTokenStore",
    "SessionExpired",
    "TokenAuth",
    "TokenStore",
    "Tokens",
]
