"""Service clients of the introspection endpoint: create, authenticate, list, remove.

A client secret is 256 random bits made here, never chosen by a person. It is stored as its
SHA-256 digest: a hash of a secret that strong cannot be reversed or guessed, so a slow
password hasher (PBKDF2's many iterations, on every introspection call) would add a CPU cost
per request and no protection. The digest is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from .. import rules
from ..models import ServiceClient

_SCHEME = "sha256"


def new_secret() -> str:
    """Return a fresh client secret: 256 random bits in 43 URL-safe characters."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """Return the stored form of a client secret."""
    return f"{_SCHEME}${hashlib.sha256(secret.encode('utf-8')).hexdigest()}"


def create_client(name: str) -> tuple[ServiceClient, str]:
    """Create a service client named `name` (its client id); return it and its secret.

    The secret is not stored: show it once, now.
    """
    secret = new_secret()
    client = ServiceClient.objects.create(name=name, secret_hash=hash_secret(secret))
    return client, secret


def reset_secret(client: ServiceClient) -> str:
    """Give a client a new secret (the old one stops working at once) and return it."""
    secret = new_secret()
    client.secret_hash = hash_secret(secret)
    client.save(update_fields=["secret_hash"])
    return secret


def authenticate_client(client_id: str, secret: str) -> ServiceClient | None:
    """Return the active client these credentials name, or None."""
    # A client id no client can have (a NUL byte, a space) is looked up nowhere.
    found = rules.is_identifier(client_id)
    client = ServiceClient.objects.filter(name=client_id, is_active=True).first() if found else None
    # Compared even when there is no such client, so the answer takes as long either way.
    stored = client.secret_hash if client is not None else hash_secret("")
    if not hmac.compare_digest(stored, hash_secret(secret)) or client is None:
        return None
    return client


def remove_client(name: str) -> bool:
    """Delete the client named `name`; return whether there was one."""
    deleted, _ = ServiceClient.objects.filter(name=name).delete()
    return bool(deleted)
