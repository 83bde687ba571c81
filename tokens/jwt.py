"""simplejwt token classes that carry the session id (`sid`), and the one place that mints them.

simplejwt freezes `lifetime` and its token backend at import time; these subclasses read
`SIMPLE_JWT` live instead, so a settings override (tests, RS256 sites) takes effect at once.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, ClassVar, TypeVar, cast

import jwt
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _
from jwt.exceptions import ExpiredSignatureError, InvalidTokenError
from rest_framework_simplejwt import settings as jwt_settings
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import (
    ExpiredTokenError,
    TokenBackendError,
    TokenBackendExpiredToken,
    TokenError,
)
from rest_framework_simplejwt.tokens import Token

from .conf import tokens_settings
from .errors import TokenExpired, TokenInvalid
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

    The keys are prepared once per settings value (`tokens.keys.KeyRing`); every token is
    signed and checked by PyJWT.
    """
    api = jwt_api_settings()
    extra = tokens_settings.VERIFYING_KEYS
    if _backend_cache and _backend_cache[0][0] is api and _backend_cache[0][1] is extra:
        return _backend_cache[0][2]
    ring = build_keyring(api.ALGORITHM, api.SIGNING_KEY, api.VERIFYING_KEY, extra or ())
    backend = KeyRingTokenBackend(
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
        if len(self.keyring.verifying) == 1:
            # One key (the usual case): PyJWT parses the token once, with that key; the kid
            # it names is checked below, as for a ring of several keys.
            key = self.keyring.current
        else:
            try:
                header = jwt.get_unverified_header(token)
            except InvalidTokenError as exc:
                raise TokenBackendError(_("Token is invalid")) from exc
            found = self.keyring.key_for(header.get("kid"))
            if found is None:
                raise TokenBackendError(_("Token is signed with an unknown key"))
            key = found
        try:
            decoded = jwt.decode_complete(
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
        if self.keyring.key_for(decoded["header"].get("kid")) is not key:
            raise TokenBackendError(_("Token is signed with an unknown key"))
        payload: dict[str, Any] = decoded["payload"]
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


def decode_either(
    raw: str | bytes, *, try_first: type[SessionToken] = SessionAccessToken
) -> SessionToken | None:
    """Return the valid access or refresh token `raw` is (`try_first` tried first), or None.

    For the endpoints that take either kind (RFC 7009 revocation, RFC 7662 introspection),
    whose `token_type_hint` only says which kind to try first.
    """
    for token_class in sorted(
        (SessionAccessToken, SessionRefreshToken), key=lambda cls: cls is not try_first
    ):
        try:
            return decode(raw, token_class)
        except (TokenInvalid, TokenExpired):
            continue
    return None


def mint_access(
    user_id: Any,
    session_id: str,
    *,
    claims: Mapping[str, Any] | None = None,
    issuer: str | None = None,
) -> SessionAccessToken:
    """Mint a fresh access token for a session.

    `claims` are the site's own (`access_claims()`, already checked against the app's);
    `issuer` is the `iss` to write when `SIMPLE_JWT["ISSUER"]` does not set one
    (`access_issuer()`).
    """
    token = _mint(SessionAccessToken, user_id, session_id, claims=claims)
    if issuer is not None and not jwt_api_settings().ISSUER:
        token.payload["iss"] = issuer
    return token


# --- The site's own claims in access tokens (TOKENS["ACCESS_CLAIMS"]) ----------------------

# RFC 7519's registered claim names: the app sets or checks each of them (or leaves it out on
# purpose, as `sub`, which introspection answers from the user id claim), so a site's claim
# of that name would change what every service reads.
REGISTERED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"})


class ClaimConflict(ImproperlyConfigured):
    """`TOKENS["ACCESS_CLAIMS"]` gave a claim the app owns, or something that is not claims."""


def owned_claims() -> frozenset[str]:
    """Return the claim names the app writes or reads itself: never a site's custom claim."""
    api = jwt_api_settings()
    return REGISTERED_CLAIMS | {
        api.JTI_CLAIM,
        api.TOKEN_TYPE_CLAIM,
        api.USER_ID_CLAIM,
        SESSION_ID_CLAIM,
        PARENT_JTI_CLAIM,
    }


@functools.lru_cache(maxsize=8)
def _import_claims(path: str) -> Callable[[Any], Any]:
    # Keyed by the dotted path itself, so a changed setting imports its own callable.
    try:
        loaded = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f'TOKENS["ACCESS_CLAIMS"] = {path!r} cannot be imported: {exc}'
        ) from exc
    if not callable(loaded):
        raise ImproperlyConfigured(f'TOKENS["ACCESS_CLAIMS"] = {path!r} is not callable.')
    return cast("Callable[[Any], Any]", loaded)


def claims_callable() -> Callable[[Any], Any] | None:
    """Return the callable `TOKENS["ACCESS_CLAIMS"]` names, or None when it is not set."""
    path = tokens_settings.ACCESS_CLAIMS
    if not path:
        return None
    return _import_claims(str(path))


def access_claims(user: Any) -> dict[str, Any]:
    """Return the site's custom claims for `user`'s next access token, read from it now.

    Raise `ClaimConflict` when the callable returns anything but a dict of string keys, or a
    claim the app owns (`owned_claims()`): refused, never silently dropped or overridden.
    """
    func = claims_callable()
    if func is None:
        return {}
    claims = func(user)
    path = tokens_settings.ACCESS_CLAIMS
    if not isinstance(claims, Mapping):
        raise ClaimConflict(
            f'TOKENS["ACCESS_CLAIMS"] ({path}) must return a dict of claims, '
            f"not {type(claims).__name__}."
        )
    owned = owned_claims()
    refused = sorted(repr(name) for name in claims if not isinstance(name, str) or name in owned)
    if refused:
        raise ClaimConflict(
            f'TOKENS["ACCESS_CLAIMS"] ({path}) returned claims the app owns: '
            f"{', '.join(refused)}. Rename them (the app's are {', '.join(sorted(owned))})."
        )
    try:
        # Encoded now, as the token will be: a value JSON cannot hold fails before a login
        # creates its session, not after.
        json.dumps(dict(claims), cls=jwt_api_settings().JSON_ENCODER)
    except (TypeError, ValueError) as exc:
        raise ClaimConflict(
            f'TOKENS["ACCESS_CLAIMS"] ({path}) returned a value JSON cannot hold: {exc}'
        ) from exc
    return dict(claims)


# --- The issuer (`iss`) --------------------------------------------------------------------


def signs_asymmetrically() -> bool:
    """Return whether the site signs with a key pair, whose tokens other services verify."""
    return not str(jwt_api_settings().ALGORITHM).startswith("HS")


def access_issuer(request: HttpRequest | None) -> str | None:
    """Return the `iss` of an access token minted for this request, or None for none.

    `SIMPLE_JWT["ISSUER"]` when set (simplejwt's backend writes it into every token). Otherwise,
    with asymmetric signing, the origin the request came to (`https://auth.example.com`), as
    the RFC 8414 metadata's `issuer` says; with HMAC signing, none (no other service verifies
    those tokens). Asymmetric signing without `ISSUER` and without a request raises
    `ImproperlyConfigured`: a token other services verify always names its issuer.
    """
    configured = jwt_api_settings().ISSUER
    if configured:
        return str(configured)
    if not signs_asymmetrically():
        return None
    if request is None:
        raise ImproperlyConfigured(
            'Tokens signed with a key pair name their issuer: set SIMPLE_JWT["ISSUER"] (the '
            "auth server's public origin), or mint them for a request (its origin is the "
            "default)."
        )
    return site_origin(request)


def site_origin(request: HttpRequest) -> str:
    """Return the origin a request came to, `scheme://host[:port]` (Django's view of the Host)."""
    return request.build_absolute_uri("/").rstrip("/")


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
    token = _mint(
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


def _mint(
    token_class: type[_Token],
    user_id: Any,
    session_id: str,
    *,
    jti: str | None = None,
    issued_at: int | None = None,
    expires_at: int | None = None,
    claims: Mapping[str, Any] | None = None,
) -> _Token:
    # simplejwt's Token() writes the type, exp, iat and jti claims, in that order, from the
    # current time and the class's lifetime; given ones replace them in place, so a re-minted
    # successor has its claims in the same order and is the same token, byte for byte.
    api = jwt_api_settings()
    token = token_class()
    if expires_at is not None:
        token["exp"] = expires_at
    if issued_at is not None:
        token["iat"] = issued_at
    if jti is not None:
        token[api.JTI_CLAIM] = jti
    token[api.USER_ID_CLAIM] = user_id
    token[SESSION_ID_CLAIM] = session_id
    # The site's claims come last and never replace one of the app's: access_claims() has
    # refused those already, and the check here keeps a caller that skipped it honest.
    for name, value in (claims or {}).items():
        if name in token.payload:
            raise ClaimConflict(f"A custom claim would replace the app's {name!r}.")
        token.payload[name] = value
    return token
