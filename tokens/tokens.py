"""simplejwt token classes that carry the session id (`sid`), and the one place that mints them.

simplejwt freezes `lifetime` and its token backend at import time; these subclasses read
`SIMPLE_JWT` live instead, so a settings override (tests, RS256 sites) takes effect at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar

import jwt
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.translation import gettext_lazy as _
from jwt.algorithms import HMACAlgorithm
from jwt.exceptions import ExpiredSignatureError, InvalidKeyError, InvalidTokenError
from rest_framework_simplejwt import settings as jwt_settings
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import (
    ExpiredTokenError,
    TokenBackendError,
    TokenBackendExpiredToken,
    TokenError,
)
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import datetime_from_epoch

from .conf import tokens_settings
from .exceptions import TokenExpired, TokenInvalid
from .keys import KeyRing, build_keyring

SESSION_ID_CLAIM = "sid"
# A refresh token's parent: the jti of the token it replaced (tokens.rules.is_current()).
PARENT_JTI_CLAIM = "pjti"

# (settings object, TOKENS["VERIFYING_KEYS"] value, backend built from them). Holding the objects
# themselves, not their id(), means a replaced setting can never be mistaken for the cached one.
_backend_cache: list[tuple[Any, Any, TokenBackend]] = []


def jwt_api_settings() -> Any:
    """Return simplejwt's current settings object (replaced whenever SIMPLE_JWT changes)."""
    return jwt_settings.api_settings


def token_backend() -> TokenBackend:
    """Return the token backend of the current `SIMPLE_JWT` and `TOKENS["VERIFYING_KEYS"]`.

    The keys are prepared once per settings value. A site that signs with HMAC and lists no
    other key gets the HMAC shortcut; asymmetric keys and key sets always go through PyJWT.
    """
    api = jwt_api_settings()
    extra = tokens_settings.VERIFYING_KEYS
    if _backend_cache and _backend_cache[0][0] is api and _backend_cache[0][1] is extra:
        return _backend_cache[0][2]
    ring = build_keyring(api.ALGORITHM, api.SIGNING_KEY, api.VERIFYING_KEY, extra or ())
    plain_hmac = ring.algorithm.startswith("HS") and len(ring.verifying) == 1
    backend_class = HMACFastPathBackend if plain_hmac else KeyRingTokenBackend
    backend = backend_class(
        api.ALGORITHM,
        api.SIGNING_KEY,
        api.VERIFYING_KEY,
        api.AUDIENCE,
        api.ISSUER,
        api.JWK_URL,
        api.LEEWAY,
        api.JSON_ENCODER,
        keyring=ring,
    )
    _backend_cache[:] = [(api, extra, backend)]
    return backend


def current_keyring() -> KeyRing:
    """Return the key ring of the current settings (signing key and every verifying key)."""
    backend = token_backend()
    assert isinstance(backend, KeyRingTokenBackend)
    return backend.keyring


class KeyRingTokenBackend(TokenBackend):
    """simplejwt's `TokenBackend`, signing with a `kid` header and verifying by `kid`.

    A token is checked with the key its `kid` names (a token without one: the current key),
    and only with that key's own algorithm: a header that asks for another algorithm (HS256
    with a public key as the secret) is refused by PyJWT. An unknown `kid` is refused. All
    parsing and checking is PyJWT's.
    """

    def __init__(self, *args: Any, keyring: KeyRing | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if keyring is None:
            keyring = build_keyring(self.algorithm, self.signing_key, self.verifying_key)
        self.keyring = keyring

    def encode(self, payload: dict[str, Any]) -> str:
        jwt_payload = payload.copy()
        if self.audience is not None:
            jwt_payload["aud"] = self.audience
        if self.issuer is not None:
            jwt_payload["iss"] = self.issuer
        return jwt.encode(
            jwt_payload,
            self.keyring.signing_key,
            algorithm=self.algorithm,
            headers={"kid": self.keyring.signing_kid},
            json_encoder=self.json_encoder,
        )

    def decode(self, token: Any, verify: bool = True) -> dict[str, Any]:
        if self.jwks_client is not None:
            # SIMPLE_JWT["JWK_URL"]: the keys are another server's; simplejwt fetches them.
            return super().decode(token, verify)
        try:
            header = jwt.get_unverified_header(token)
        except InvalidTokenError as exc:
            raise TokenBackendError(_("Token is invalid")) from exc
        key = self.keyring.key_for(header.get("kid"))
        if key is None:
            raise TokenBackendError(_("Token is signed with an unknown key"))
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.get_leeway(),
                options={"verify_aud": self.audience is not None, "verify_signature": verify},
            )
        except ExpiredSignatureError as exc:
            raise TokenBackendExpiredToken(_("Token is expired")) from exc
        except InvalidTokenError as exc:
            raise TokenBackendError(_("Token is invalid")) from exc


_HMAC_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
_BASE64URL = re.compile(rb"[A-Za-z0-9_-]*")


def _b64encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class HMACFastPathBackend(KeyRingTokenBackend):
    """simplejwt's `TokenBackend`, with a shortcut for the tokens this app mints with HMAC.

    PyJWT re-validates its HMAC key on every call (trying to load it as a DER public key and
    as a certificate) and checks base64 one character at a time: together about half of what
    a refresh costs in token handling. For the plain case (HS256/384/512, the header PyJWT
    writes, no audience, issuer or custom JSON encoder) this signs and verifies directly.
    The shortcut only ever *accepts* a token PyJWT would accept; anything else (a bad
    signature, an unusual header, an expired or odd claim) goes through simplejwt and PyJWT,
    which give their usual errors. `tests/test_fast_paths.py` holds the two paths to that.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hash = _HMAC_HASHES.get(self.algorithm)
        plain = self.audience is None and self.issuer is None and self.json_encoder is None
        self._key = b""
        if self._hash is not None and plain and self.signing_key:
            try:
                # PyJWT's own checks of the key, once: a key it refuses, or warns about as too
                # short, never takes the shortcut (PyJWT refuses or warns again, per call).
                key = force_bytes(self.prepared_signing_key)
                if HMACAlgorithm(self._hash).check_key_length(key) is None:
                    self._key = key
            except (InvalidKeyError, TypeError):
                self._key = b""
        # The header PyJWT writes (sorted keys), with the key id every token carries.
        header = {"alg": self.algorithm, "kid": self.keyring.signing_kid, "typ": "JWT"}
        self._header = _b64encode(json.dumps(header, separators=(",", ":")).encode())
        self._leeway = self.get_leeway().total_seconds() if self._key else 0.0

    def encode(self, payload: dict[str, Any]) -> str:
        if not self._key:
            return super().encode(payload)
        signing_input = (
            self._header + b"." + _b64encode(json.dumps(payload, separators=(",", ":")).encode())
        )
        signature = hmac.new(self._key, signing_input, self._hash).digest()  # type: ignore[arg-type]
        return (signing_input + b"." + _b64encode(signature)).decode()

    def decode(self, token: Any, verify: bool = True) -> dict[str, Any]:
        payload = self._verified_payload(token) if self._key and verify else None
        return payload if payload is not None else super().decode(token, verify)

    def _verified_payload(self, token: Any) -> dict[str, Any] | None:
        raw = token if isinstance(token, bytes) else str(token).encode()
        header, _, rest = raw.partition(b".")
        body, _, signature = rest.partition(b".")
        if header != self._header or not _BASE64URL.fullmatch(body):
            return None
        expected = hmac.new(self._key, header + b"." + body, self._hash).digest()  # type: ignore[arg-type]
        if not hmac.compare_digest(_b64encode(expected), signature) or len(body) % 4 == 1:
            return None
        try:
            decoded = base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4))
            payload = json.loads(decoded)
        except (binascii.Error, ValueError, RecursionError):
            return None
        if _b64encode(decoded) != body or not isinstance(payload, dict):
            return None
        now = time.time()
        exp, iat = payload.get("exp"), payload.get("iat")
        if type(exp) is not int or exp <= now - self._leeway:
            return None
        if iat is not None and (type(iat) is not int or iat > now + self._leeway):
            return None
        # Claims PyJWT would check further: leave them to it.
        if any(claim in payload for claim in ("nbf", "aud", "iss")):
            return None
        if any(claim in payload and type(payload[claim]) is not str for claim in ("sub", "jti")):
            return None
        return payload


class SessionToken(Token):
    """A simplejwt token bound to a session through its `sid` claim."""

    lifetime_setting: ClassVar[str]

    @property
    def lifetime(self) -> timedelta:  # type: ignore[override]
        return getattr(jwt_api_settings(), self.lifetime_setting)

    @property
    def token_backend(self) -> TokenBackend:
        return token_backend()

    def set_jti(self) -> None:
        self.payload[jwt_api_settings().JTI_CLAIM] = new_jti()

    def verify_token_type(self) -> None:
        claim = jwt_api_settings().TOKEN_TYPE_CLAIM
        if self.payload.get(claim) != self.token_type:
            raise TokenError("Token has wrong type")

    def verify(self) -> None:
        super().verify()
        # RFC 7519 NumericDate is a JSON number; PyJWT also takes "123" (it calls int()).
        for claim in ("exp", "iat", "nbf"):
            value = self.payload.get(claim)
            if claim in self.payload and (type(value) not in (int, float)):
                raise TokenError(f"Token has a {claim} claim that is not a number")
        if not isinstance(self.payload.get(SESSION_ID_CLAIM), str):
            raise TokenError("Token has no session")
        if self.payload.get(jwt_api_settings().USER_ID_CLAIM) is None:
            raise TokenError("Token has no user")

    @property
    def session_id(self) -> str:
        """Return the id of the session this token belongs to."""
        return str(self.payload[SESSION_ID_CLAIM])

    @property
    def user_id(self) -> str:
        """Return the user id claim, as a string (the store's key part)."""
        return str(self.payload[jwt_api_settings().USER_ID_CLAIM])

    @property
    def jti(self) -> str:
        """Return the token id."""
        return str(self.payload[jwt_api_settings().JTI_CLAIM])


class SessionAccessToken(SessionToken):
    """Short-lived bearer token; valid only while its session is live."""

    token_type = "access"  # noqa: S105 (a claim value, not a secret)
    lifetime_setting = "ACCESS_TOKEN_LIFETIME"


class SessionRefreshToken(SessionToken):
    """Long-lived token traded for a new pair at `/api/auth/refresh`; rotates on every use."""

    token_type = "refresh"  # noqa: S105 (a claim value, not a secret)
    lifetime_setting = "REFRESH_TOKEN_LIFETIME"


def new_jti() -> str:
    """Return a fresh token id: 128 random bits in 22 URL-safe characters."""
    return secrets.token_urlsafe(16)


def decode(raw: str | bytes, token_class: type[SessionToken]) -> SessionToken:
    """Validate a raw token of the given class, raising `TokenExpired` or `TokenInvalid`."""
    if isinstance(raw, str):
        try:
            raw = raw.encode("ascii")
        except UnicodeEncodeError as exc:
            raise TokenInvalid("Token is not ASCII") from exc
    try:
        return token_class(raw)  # type: ignore[arg-type]
    except ExpiredTokenError as exc:
        raise TokenExpired(str(exc)) from exc
    except TokenError as exc:
        raise TokenInvalid(str(exc)) from exc
    except (TypeError, ValueError, OverflowError) as exc:
        # PyJWT converts the time claims with int() and catches only some of what that raises
        # (a list, infinity); simplejwt then makes a datetime of `exp` (a numeric string, or
        # 10**30, cannot be one). A correctly signed token whose claims cannot be read is as
        # invalid as a badly signed one, never a 500.
        raise TokenInvalid(f"Token has an unreadable claim: {exc}") from exc


def mint_access(user_id: Any, session_id: str) -> SessionAccessToken:
    """Mint a fresh access token for a session."""
    return _minted(SessionAccessToken, user_id, session_id)


def mint_refresh(
    user_id: Any,
    session_id: str,
    *,
    jti: str | None = None,
    issued_at: int | None = None,
    expires_at: int | None = None,
    parent_jti: str = "",
) -> SessionRefreshToken:
    """Mint a refresh token; given the same jti, iat, exp and parent it is byte-for-byte the same.

    Re-minting is how the grace window hands concurrent refreshes the SAME successor without
    the store ever holding a raw token. `parent_jti`, the jti of the token it replaces, is
    its `pjti` claim (none for a login's first token).
    """
    token = _minted(
        SessionRefreshToken,
        user_id,
        session_id,
        jti=jti,
        issued_at=issued_at,
        expires_at=expires_at,
    )
    if parent_jti:
        token.payload[PARENT_JTI_CLAIM] = parent_jti
    return token


_Token = TypeVar("_Token", bound=SessionToken)


def _minted(
    token_class: type[_Token],
    user_id: Any,
    session_id: str,
    *,
    jti: str | None = None,
    issued_at: int | None = None,
    expires_at: int | None = None,
) -> _Token:
    # The token simplejwt's Token() makes (type, exp, iat and jti claims, in that order, from
    # the current time and the class's lifetime), then the user and session claims, without
    # Token.__init__'s datetime arithmetic and the jti a refresh token would then replace.
    # Every refresh mints two. tests/test_fast_paths.py holds it to Token() claim for claim.
    api = jwt_api_settings()
    now = time.time()
    token = token_class.__new__(token_class)
    token.token = None
    token.current_time = datetime_from_epoch(now)
    token.payload = {
        api.TOKEN_TYPE_CLAIM: token_class.token_type,
        "exp": expires_at if expires_at is not None else int(now + token.lifetime.total_seconds()),
        "iat": issued_at if issued_at is not None else int(now),
        api.JTI_CLAIM: jti if jti is not None else new_jti(),
        api.USER_ID_CLAIM: user_id,
        SESSION_ID_CLAIM: session_id,
    }
    return token


def epoch(moment: datetime | None = None) -> int:
    """Return a moment (default: now) as whole seconds since the epoch."""
    return int((moment or timezone.now()).timestamp())
