"""Signing and verifying keys: key ids (`kid`), key sets for rotation, and the public JWK Set.

The signing key is simplejwt's (`SIMPLE_JWT["ALGORITHM"]`, `SIGNING_KEY`, `VERIFYING_KEY`). Extra
verifying keys (the next key, published before it signs; retired keys, kept until their last
tokens expire) are listed in `TOKENS["VERIFYING_KEYS"]`. Every key is prepared once, through
PyJWT's own key objects (`PyJWK`), and every key is bound to its own algorithm: a token is
checked only with the algorithm of the key its `kid` names, never the one its header asks for.

This module imports no Django settings, so a site's settings module may use its helpers
(`signing_settings()`, `public_pem()`) to configure signing from a PEM file. Asymmetric keys
need `cryptography` (as PyJWT's do: `pip install "django-tokens[crypto]"`); it is imported only
when such a key is used, so an HMAC-only site does not need it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jwt import PyJWK
from jwt.algorithms import get_default_algorithms
from jwt.exceptions import InvalidKeyError, PyJWKError

# The members RFC 7638 hashes, per key type (§3.2), in their required (lexicographic) order.
_THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}
_CURVE_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
# Whatever a JWK may carry that is private: never published.
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


class KeyConfigurationError(ValueError):
    """A configured key cannot be used (unreadable, of an unknown type, or not public)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """Return the RFC 7638 SHA-256 thumbprint of a public JWK, base64url-encoded."""
    members = _THUMBPRINT_MEMBERS.get(jwk.get("kty", ""))
    if members is None:
        raise KeyConfigurationError(f"No thumbprint for key type {jwk.get('kty')!r}")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode("utf-8")).digest())


def hmac_kid(secret: str | bytes) -> str:
    """Return a key id for an HMAC secret: a keyed digest, so it reveals nothing of the secret.

    A hash of the secret itself (its RFC 7638 thumbprint) would let anyone who sees a token test
    guesses of a weak secret offline without a signature; this id is exactly as hard to attack
    as the token's own signature, which every token already carries.
    """
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    return "hs-" + _b64(hmac.new(raw, b"django-tokens key id", hashlib.sha256).digest()[:16])


def algorithm_for(key: Any) -> str:
    """Return the JWS algorithm a key type signs with: RS256, ES256/384/512 or EdDSA."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        algorithm = _CURVE_ALGORITHMS.get(key.curve.name)
        if algorithm is None:
            raise KeyConfigurationError(f"Unsupported elliptic curve {key.curve.name}")
        return algorithm
    if isinstance(
        key,
        ed25519.Ed25519PrivateKey
        | ed25519.Ed25519PublicKey
        | ed448.Ed448PrivateKey
        | ed448.Ed448PublicKey,
    ):
        return "EdDSA"
    raise KeyConfigurationError(f"Unsupported key type {type(key).__name__}")


def _load_pem(pem: str | bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        pass
    try:
        return serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeyConfigurationError("Not a PEM private or public key") from exc


def _public(key: Any) -> Any:
    return key.public_key() if hasattr(key, "public_key") else key


def public_pem(pem: str | bytes) -> str:
    """Return the PEM public key of a PEM private (or public) key."""
    from cryptography.hazmat.primitives import serialization

    return (
        _public(_load_pem(pem))
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def signing_settings(private_pem: str | bytes) -> dict[str, str]:
    """Return the `SIMPLE_JWT` entries that sign with this PEM private key.

    The algorithm follows the key type: RSA -> RS256, P-256 -> ES256, Ed25519 -> EdDSA.
    """
    key = _load_pem(private_pem)
    if not hasattr(key, "public_key"):
        raise KeyConfigurationError("A signing key must be a private key")
    pem = private_pem.decode("ascii") if isinstance(private_pem, bytes) else private_pem
    return {
        "ALGORITHM": algorithm_for(key),
        "SIGNING_KEY": pem,
        "VERIFYING_KEY": public_pem(private_pem),
    }


def public_jwk(key: Any, algorithm: str) -> dict[str, Any]:
    """Return the public JWK of a key (a `cryptography` key object), with its `alg`."""
    algorithm_object = get_default_algorithms()[algorithm]
    jwk: dict[str, Any] = algorithm_object.to_jwk(_public(key), as_dict=True)
    jwk["alg"] = algorithm
    return jwk


@dataclass(frozen=True)
class KeyRing:
    """The signing key and every key tokens may be verified with, each prepared once."""

    algorithm: str
    signing_kid: str
    # The signing key as PyJWT's algorithm prepares it (a key object, or HMAC bytes).
    signing_key: Any
    # kid -> the verifying key, bound to its algorithm.
    verifying: dict[str, PyJWK] = field(default_factory=dict)
    # The public JWKs of the asymmetric verifying keys (never a private or HMAC key).
    public_jwks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def current(self) -> PyJWK:
        """Return the key that verifies the tokens the site signs now."""
        return self.verifying[self.signing_kid]

    def key_for(self, kid: Any) -> PyJWK | None:
        """Return the verifying key a token header's `kid` names (none: the current key)."""
        if kid is None:
            # Tokens minted before kids were written: the current key, as before.
            return self.current
        if not isinstance(kid, str):
            return None
        return self.verifying.get(kid)

    def jwk_set(self) -> dict[str, Any]:
        """Return the RFC 7517 JWK Set of the public verifying keys."""
        return {"keys": [dict(jwk) for jwk in self.public_jwks]}


def _hmac_secret(secret: bytes, algorithm: str) -> bytes:
    """Return an HMAC verifying secret, refusing what PyJWT refuses (a PEM or SSH public key).

    A public key listed as an HMAC secret would let anyone who has it (everyone: it is
    published) sign tokens: the very confusion the kid-bound algorithms prevent.
    """
    try:
        get_default_algorithms()[algorithm].prepare_key(secret)
    except (InvalidKeyError, KeyError) as exc:
        raise KeyConfigurationError(f"Not a usable {algorithm} secret: {exc}") from exc
    return secret


def _verifying_entry(
    key: Any, algorithm: str | None, kid: str | None, *, check_hmac: bool = True
) -> tuple[str, PyJWK, dict[str, Any] | None]:
    """Return (kid, PyJWK, public JWK or None for HMAC) for one configured verifying key."""
    if isinstance(key, Mapping):
        jwk = {k: v for k, v in key.items()}
        if jwk.get("kty") == "oct":
            algorithm = algorithm or jwk.get("alg") or "HS256"
            secret = base64.urlsafe_b64decode(jwk["k"] + "=" * (-len(jwk["k"]) % 4))
            if check_hmac:
                _hmac_secret(secret, algorithm)
            return kid or jwk.get("kid") or hmac_kid(secret), PyJWK(jwk, algorithm), None
        if any(member in jwk for member in _PRIVATE_MEMBERS):
            raise KeyConfigurationError("A verifying JWK must be a public key")
        try:
            prepared = PyJWK(jwk, algorithm or jwk.get("alg"))
        except PyJWKError as exc:
            raise KeyConfigurationError(str(exc)) from exc
        algorithm = prepared.algorithm_name
        cryptography_key = prepared.key
    elif algorithm is not None and algorithm.startswith("HS"):
        secret = key.encode("utf-8") if isinstance(key, str) else bytes(key)
        if check_hmac:
            _hmac_secret(secret, algorithm)
        oct_jwk = {"kty": "oct", "k": _b64(secret)}
        return kid or hmac_kid(secret), PyJWK(oct_jwk, algorithm), None
    else:
        # A PEM, or a key object as simplejwt also accepts for SIGNING_KEY / VERIFYING_KEY.
        cryptography_key = _public(_load_pem(key) if isinstance(key, str | bytes) else key)
        algorithm = algorithm or algorithm_for(cryptography_key)
    published = public_jwk(cryptography_key, algorithm)
    kid = kid or thumbprint(published)
    published["kid"] = kid
    published["use"] = "sig"
    return kid, PyJWK(published, algorithm), published


def build_keyring(
    algorithm: str,
    signing_key: Any,
    verifying_key: Any,
    extra: Iterable[Any] = (),
) -> KeyRing:
    """Return the key ring of simplejwt's signing settings plus the extra verifying keys.

    `extra` holds `TOKENS["VERIFYING_KEYS"]` entries: a PEM public key (a private one is reduced
    to its public half), a JWK dict, or a dict `{"key": ..., "kid": ..., "algorithm": ...}` whose
    `kid` and `algorithm` default to the key's RFC 7638 thumbprint and its type's algorithm.
    """
    algorithms = get_default_algorithms()
    if algorithm not in algorithms:
        raise KeyConfigurationError(f"Unsupported algorithm {algorithm!r}")
    try:
        prepared_signing = algorithms[algorithm].prepare_key(signing_key)
    except (InvalidKeyError, ValueError, TypeError):
        # Left as it is: PyJWT refuses it, with its own error, when a token is signed.
        prepared_signing = signing_key
    verifying: dict[str, PyJWK] = {}
    published: list[dict[str, Any]] = []
    if algorithm.startswith("HS"):
        # Not checked here: PyJWT refuses an unusable signing secret, with its own error, at
        # the first token.
        signing_kid, current, jwk = _verifying_entry(signing_key, algorithm, None, check_hmac=False)
    else:
        if not verifying_key:
            verifying_key = (
                public_pem(signing_key) if isinstance(signing_key, str | bytes) else signing_key
            )
        signing_kid, current, jwk = _verifying_entry(verifying_key, algorithm, None)
    verifying[signing_kid] = current
    if jwk is not None:
        published.append(jwk)
    for entry in extra:
        if isinstance(entry, Mapping) and "key" in entry:
            kid, key, jwk = _verifying_entry(entry["key"], entry.get("algorithm"), entry.get("kid"))
        else:
            kid, key, jwk = _verifying_entry(entry, None, None)
        if kid in verifying:
            continue
        verifying[kid] = key
        if jwk is not None:
            published.append(jwk)
    return KeyRing(
        algorithm=algorithm,
        signing_kid=signing_kid,
        signing_key=prepared_signing,
        verifying=verifying,
        public_jwks=published,
    )
