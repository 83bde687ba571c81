"""Log in, rotate, authenticate and revoke: the one API every caller uses.

Views, the authentication class, admin actions, management commands and signal receivers all
call these functions; none of them talks to the store directly.
"""

from __future__ import annotations

import functools
import logging
import math
import secrets
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model, user_logged_in, user_logged_out
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.signals import setting_changed
from django.db import connections, models
from django.db.models.manager import BaseManager
from django.http import HttpRequest

from . import events, rules, signals
from .addresses import client_address
from .conf import to_seconds, tokens_settings
from .display import shorten_user_agent
from .errors import (
    SessionNotFound,
    SessionRevoked,
    StoreUnavailable,
    TokenExpired,
    TokenReused,
)
from .jwt import (
    PARENT_JTI_CLAIM,
    SessionAccessToken,
    SessionRefreshToken,
    SessionToken,
    access_claims,
    access_issuer,
    claims_callable,
    decode,
    decode_either,
    jwt_api_settings,
    mint_access,
    mint_refresh,
    new_jti,
)
from .stores import SessionRecord, get_store

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

security_logger = logging.getLogger("django.security.tokens")
logger = logging.getLogger("tokens")

# The session a password change keeps while change_password() saves the user:
# (user model label, user key, session id). Read by the pre_save receiver through kept_session().
_keep_session: ContextVar[tuple[str, str, str] | None] = ContextVar(
    "tokens_keep_session", default=None
)


@dataclass(frozen=True)
class TokenPair:
    """A fresh access token and refresh token for one session."""

    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    session_id: str

    def as_response(self, *, include_refresh: bool = True) -> dict[str, Any]:
        """Return the RFC 6749 §5.1 response body."""
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": self.access_token,
            "expires_in": self.expires_in,
        }
        if include_refresh:
            body["refresh_token"] = self.refresh_token
        body["refresh_expires_in"] = self.refresh_expires_in
        return body


def user_id_of(user: AbstractBaseUser) -> str:
    """Return the store's id for a user (its simplejwt USER_ID_FIELD, as a string)."""
    return str(_user_claim(user))


def _user_claim(user: AbstractBaseUser) -> Any:
    value = getattr(user, jwt_api_settings().USER_ID_FIELD)
    return value if isinstance(value, int) else str(value)


def _client_meta(request: HttpRequest | None) -> tuple[str, str]:
    if request is None:
        return "", ""
    # The client's address as the throttles see it: X-Forwarded-For is trusted exactly as far
    # as REST_FRAMEWORK["NUM_PROXIES"] says.
    ip = client_address(request)
    agent = request.META.get("HTTP_USER_AGENT", "") or ""
    return ip[:45], shorten_user_agent(agent, tokens_settings.USER_AGENT_MAX_LENGTH)


def new_session_id() -> str:
    """Return a new random session id: 16 URL-safe characters (96 bits), never starting with "-".

    An id that starts with "-" reads as an option on a command line
    (`manage.py tokens_revoke USER --session -abc`), so such draws are thrown away and drawn
    again: the ids left are still uniformly random among the rest.
    """
    while True:
        session_id = secrets.token_urlsafe(12)
        if not session_id.startswith("-"):
            return session_id


def login(
    user: AbstractBaseUser,
    *,
    request: HttpRequest | None = None,
    started_at: float | None = None,
) -> TokenPair:
    """Start a session for an authenticated user and return its first token pair.

    `started_at` is when the login began, taken before its password check (`time.time()`). If
    all the user's sessions were ended since (a password change, deactivation, logout
    everywhere), the credentials it checked may no longer hold: it raises `LoginInterrupted` and
    creates nothing. Without it (a caller that checked no password) the check is skipped.
    """
    now = time.time()
    issued = int(now)
    refresh_lifetime = int(to_seconds(jwt_api_settings().REFRESH_TOKEN_LIFETIME))
    expires = min(issued + refresh_lifetime, issued + tokens_settings.max_age_seconds)
    session_id = new_session_id()
    claim = _user_claim(user)
    # Read before the session exists: a refused custom claim or a missing issuer creates none.
    extra, issuer = access_claims(user), access_issuer(request)
    refresh = mint_refresh(claim, session_id, jti=new_jti(), issued_at=issued, expires_at=expires)
    ip, agent = _client_meta(request)
    record = SessionRecord(
        session_id=session_id,
        user_id=str(claim),
        created_at=now,
        last_used_at=now,
        expires_at=expires,
        ip=ip,
        user_agent=agent,
        current_jti=refresh.jti,
    )
    evicted = get_store().create(
        record, max_sessions=tokens_settings.MAX_SESSIONS_PER_USER, started_at=started_at
    )
    for ended in evicted:
        signals.session_revoked.send(
            sender=type(user),
            user_id=str(claim),
            session_id=ended,
            reason="max_sessions",
            request=request,
        )
    events.publish_sessions_ended(str(claim), evicted, "max_sessions")
    signals.session_created.send(
        sender=type(user), user=user, session_id=session_id, request=request
    )
    user_logged_in.send(sender=type(user), request=request, user=user)
    return _pair(claim, session_id, refresh, expires, now, extra, issuer)


def _pair(
    claim: Any,
    session_id: str,
    refresh: SessionRefreshToken,
    expires: int,
    now: float,
    extra: dict[str, Any],
    issuer: str | None,
) -> TokenPair:
    access = mint_access(claim, session_id, claims=extra, issuer=issuer)
    return TokenPair(
        access_token=str(access),
        refresh_token=str(refresh),
        expires_in=int(to_seconds(jwt_api_settings().ACCESS_TOKEN_LIFETIME)),
        refresh_expires_in=max(0, math.ceil(expires - now)),
        session_id=session_id,
    )


def rotate(raw_refresh: str, *, request: HttpRequest | None = None) -> TokenPair:
    """Trade a refresh token for a new pair, atomically.

    Raise `TokenInvalid`, `TokenExpired`, `SessionRevoked`, or `TokenReused` (after ending the
    session) when the token cannot be used.
    """
    token = decode(raw_refresh, SessionRefreshToken)
    issuer = access_issuer(request)
    parent = token.payload.get(PARENT_JTI_CLAIM, "")
    now = time.time()
    rotation = get_store().rotate(
        token.user_id,
        token.session_id,
        token.jti,
        new_jti=new_jti(),
        now=now,
        lifetime=int(to_seconds(jwt_api_settings().REFRESH_TOKEN_LIFETIME)),
        grace=tokens_settings.grace_seconds,
        max_age=tokens_settings.max_age_seconds,
        presented_parent=parent if isinstance(parent, str) else "",
    )
    sender = get_user_model()
    if rotation.outcome == "reused":
        _announce_reuse(token, "refresh", request)
        raise TokenReused()
    if rotation.outcome == "revoked":
        raise SessionRevoked()
    if rotation.outcome == "expired":
        raise TokenExpired()
    user_gone, extra = _user_state(token)
    if user_gone:
        # Deleted or deactivated without the signals that end sessions (raw SQL, a queryset
        # update): end the session the rotation just moved on, so it cannot come back if the
        # row or the flag does.
        end_session(token.user_id, token.session_id, reason=user_gone, request=request)
        raise SessionRevoked()
    claim = token[jwt_api_settings().USER_ID_CLAIM]
    refresh = mint_refresh(
        claim,
        token.session_id,
        jti=rotation.jti,
        issued_at=rotation.issued_at,
        expires_at=rotation.expires_at,
        parent_jti=token.jti,
    )
    if rotation.outcome == "rotated":
        signals.session_rotated.send(
            sender=sender, user_id=token.user_id, session_id=token.session_id, request=request
        )
    else:
        security_logger.info(
            "Refresh token replayed inside its grace window: user %s, session %s, replay %d of "
            "at most %d; the same successor was returned.",
            token.user_id,
            token.session_id,
            rotation.replays,
            tokens_settings.ROTATION_MAX_REPLAYS,
        )
        signals.refresh_token_grace.send(
            sender=sender,
            user_id=token.user_id,
            session_id=token.session_id,
            replays=rotation.replays,
            request=request,
        )
    return _pair(claim, token.session_id, refresh, rotation.expires_at, now, extra, issuer)


def _announce_reuse(token: SessionToken, presented_to: str, request: HttpRequest | None) -> None:
    """Log and signal that a rotated-away refresh token was presented; its session has ended."""
    security_logger.warning(
        "Refresh token reuse detected (presented to %s): user %s, session %s; the session was "
        "ended.",
        presented_to,
        token.user_id,
        token.session_id,
    )
    sender = get_user_model()
    signals.refresh_token_reused.send(
        sender=sender, user_id=token.user_id, session_id=token.session_id, request=request
    )
    signals.session_revoked.send(
        sender=sender,
        user_id=token.user_id,
        session_id=token.session_id,
        reason="reuse",
        request=request,
    )
    events.publish_sessions_ended(token.user_id, [token.session_id], "reuse")


def refresh_outcome(token: SessionRefreshToken) -> rules.Outcome:
    """Return what a refresh with this (validated) token would be told now, changing nothing.

    "rotated" or "grace" when it is usable, as `rotate()` would decide: its parent claim
    counts, so a successor whose rotation a failover lost is still the session's own token.
    """
    record = get_store().get(token.user_id, token.session_id)
    parent = token.payload.get(PARENT_JTI_CLAIM, "")
    return rules.classify_presented(
        record,
        token.jti,
        now=time.time(),
        max_replays=tokens_settings.ROTATION_MAX_REPLAYS,
        presented_parent=parent if isinstance(parent, str) else "",
    )


def _is_replay(token: SessionToken) -> bool:
    """Return whether `token` is a refresh token its session has rotated away (reuse)."""
    return isinstance(token, SessionRefreshToken) and refresh_outcome(token) == "reused"


def _end_presented(
    token: SessionToken, *, reason: str, presented_to: str, request: HttpRequest | None
) -> tuple[bool, bool]:
    """End the session a presented token names; return (ended, whether it was reuse).

    A rotated-away refresh token still ends its session (whoever holds it must not keep it
    alive), but it is reuse: logged and signalled as such, with reason "reuse".
    """
    if _is_replay(token):
        ended = get_store().delete(token.user_id, token.session_id)
        if ended:
            _announce_reuse(token, presented_to, request)
        return ended, True
    return end_session(token.user_id, token.session_id, reason=reason, request=request), False


def _user_gone(token: SessionToken) -> str | None:
    """Return "deleted" or "deactivated" if the token's user can no longer use it, else None."""
    active = user_is_active(token[jwt_api_settings().USER_ID_CLAIM])
    if active is None:
        return "deleted"
    return None if active else "deactivated"


def _user_state(token: SessionToken) -> tuple[str | None, dict[str, Any]]:
    """Return (`_user_gone()`'s answer, the user's custom access claims) in one read of the user.

    Without `TOKENS["ACCESS_CLAIMS"]` it reads the `is_active` column only, as before; with it,
    the user is loaded once and gives both (the claims are read afresh at every refresh).
    """
    if claims_callable() is None:
        return _user_gone(token), {}
    user = token_user(token[jwt_api_settings().USER_ID_CLAIM])
    if user is None:
        return "deleted", {}
    if not getattr(user, "is_active", True):
        return "deactivated", {}
    return None, access_claims(user)


def user_is_active(claim: Any) -> bool | None:
    """Return whether the user a token's user-id claim names is active; None if there is none.

    Every refresh asks this. With an `is_active` column it reads that one column, without
    building a user: one hand-written SELECT (`_UserQueries`) when the default manager returns
    the table's rows as they are, the default manager's `values_list("is_active", flat=True)`
    otherwise. A model whose `is_active` is not a column (a property, or none: active, as
    Django's backends treat it) is loaded and asked.
    """
    model = get_user_model()
    if not _has_active_column(model):
        user = token_user(claim)
        return None if user is None else bool(getattr(user, "is_active", True))
    queries = _user_queries(model, jwt_api_settings().USER_ID_FIELD, model._default_manager.db)
    if queries is not None:
        param = queries.param(claim)
        if param is _NO_USER:
            return None
        with connections[queries.alias].cursor() as cursor:
            cursor.execute(queries.active_sql, [param])
            rows = cursor.fetchmany(2)
        if len(rows) > 1:
            raise _several(model)
        return bool(rows[0][0]) if rows else None
    flags = _users_named_by(model, claim, "is_active")
    try:
        return None if flags is None else bool(flags.get())
    except model.DoesNotExist:
        return None


def token_user(claim: Any) -> AbstractBaseUser | None:
    """Return the user a token's user-id claim names, or None if there is none.

    It is the user the default manager's `get()` for `USER_ID_FIELD = claim` returns, read
    with one hand-written SELECT when that manager returns the table's rows as they are. On
    PostgreSQL, where the driver already returns each column as the field's Python value, the
    row goes straight to `Model.from_db()` through `connection.cursor()` (a model with a field
    that converts what it loads, `from_db_value()`, is read as below); elsewhere the manager's
    `raw()` converts each column as the ORM does and builds the instance. A field that is not
    unique and names several users raises `MultipleObjectsReturned`, as the ORM does.
    """
    model = get_user_model()
    queries = _user_queries(model, jwt_api_settings().USER_ID_FIELD, model._default_manager.db)
    if queries is not None:
        param = queries.param(claim)
        if param is _NO_USER:
            return None
        return _read_user(model, queries, queries.row_sql, [param])
    found = _users_named_by(model, claim)
    try:
        return None if found is None else found.get()
    except model.DoesNotExist:
        return None


def _read_user(model: Any, queries: _UserQueries, sql: str, params: list[Any]) -> Any | None:
    """Return the one user `sql` (`queries.row_sql`, perhaps with a condition ANDed) selects."""
    if queries.attnames:
        with connections[queries.alias].cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchmany(2)
        users = [model.from_db(queries.alias, queries.attnames, row) for row in rows]
    else:
        users = list(model._default_manager.db_manager(queries.alias).raw(sql, params))
    if len(users) > 1:
        raise _several(model)
    return users[0] if users else None


def _several(model: Any) -> Exception:
    return model.MultipleObjectsReturned(
        f"get() returned more than one {model._meta.object_name} -- it returned more than one!"
    )


# A claim its field refuses (a string for an integer id, a list): it names no user.
_NO_USER = object()


@dataclass(frozen=True)
class _UserQueries:
    """The two statements a token's user is read with, written once per model, field and db.

    The SQL names the table and columns `Model._meta` gives, quoted by the connection; its one
    parameter is the claim as the field prepares it for that database.
    """

    alias: str
    field: Any
    row_sql: str
    active_sql: str
    # The row's columns in order, when the driver's values are the model's as they are (the
    # row goes to `Model.from_db()` unconverted); empty when `Manager.raw()` must convert them.
    attnames: tuple[str, ...] = ()

    def param(self, claim: Any) -> Any:
        """Return the claim as the query's parameter, or `_NO_USER` if the field refuses it."""
        field = self.field
        try:
            value = field.to_python(claim)
            if isinstance(field, models.IntegerField) and value is not None:
                # Out of the column's range: the ORM answers "no rows" (the database would
                # refuse the statement).
                field.run_validators(value)
            return field.get_db_prep_value(value, connections[self.alias], prepared=False)
        except (ValidationError, ValueError, TypeError):
            return _NO_USER


@functools.cache
def _user_queries(model: Any, field_name: str, alias: str) -> _UserQueries | None:
    """Return the hand-written user queries, or None where only the QuerySet path is exact.

    That is when the default manager overrides `get_queryset()` (it may leave users out), or
    the id field is not a column of the user's own table.
    """
    manager = model._default_manager
    if type(manager).get_queryset is not BaseManager.get_queryset:
        return None
    try:
        field = model._meta.get_field(field_name)
    except FieldDoesNotExist:
        return None
    if not field.concrete or field.model is not model or model._meta.parents:
        return None
    connection = connections[alias]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    where = f"{quote(field.column)} = %s"
    fields = model._meta.concrete_fields
    columns = ", ".join(quote(f.column) for f in fields)
    active = model._meta.get_field("is_active").column if _has_active_column(model) else None
    # Names from the model's _meta, quoted by the connection; the claim is a parameter.
    return _UserQueries(
        alias=alias,
        field=field,
        row_sql=f"SELECT {columns} FROM {table} WHERE {where}",  # noqa: S608
        active_sql=f"SELECT {quote(active)} FROM {table} WHERE {where}" if active else "",  # noqa: S608
        attnames=tuple(f.attname for f in fields) if _loads_as_is(connection, fields) else (),
    )


def _loads_as_is(connection: Any, fields: Iterable[Any]) -> bool:
    """Return whether these columns, read through `connection`, are the fields' values as is.

    PostgreSQL's driver returns every standard column type as the Python value the field holds
    (an aware datetime, a bool, a UUID, a Decimal); Django's PostgreSQL backend converts no
    column it reads, so a value needs converting only where the field says so:
    `from_db_value()` (JSON, custom fields), or its own converters. SQLite, MySQL and Oracle
    return some types raw (text datetimes, 0/1 booleans), which their backends convert: their
    rows go through `Manager.raw()`. `tests/test_user_lookup.py` holds the result to the ORM's
    on both databases.
    """
    return connection.vendor == "postgresql" and all(
        not hasattr(f, "from_db_value")
        and type(f).get_db_converters is models.Field.get_db_converters
        for f in fields
    )


def _clear_user_queries(*, setting: str, **kwargs: Any) -> None:
    # The statements depend on the user model and the database's quoting.
    if setting in ("AUTH_USER_MODEL", "DATABASES"):
        _user_queries.cache_clear()
        _has_active_column.cache_clear()


setting_changed.connect(_clear_user_queries, dispatch_uid="tokens.services.user_queries")


def _users_named_by(model: Any, claim: Any, flag: str | None = None) -> Any | None:
    """Return the default manager's users whose USER_ID_FIELD is `claim`, or None.

    With `flag`, only that column of each (`values_list(flag, flat=True)`). None when the
    field cannot take the claim (a string for an integer id, a list): such a claim names no
    user, it is not an error.
    """
    id_field = model._meta.get_field(jwt_api_settings().USER_ID_FIELD)
    queryset = model._default_manager.all()
    if flag is not None:
        queryset = queryset.values_list(flag, flat=True)
    try:
        # The lookup converts its value when the filter is built, so a claim the field
        # refuses raises here rather than in the database.
        return queryset.filter(**{id_field.name: id_field.to_python(claim)})
    except (ValidationError, ValueError, TypeError):
        return None


@functools.lru_cache(maxsize=32)
def _has_active_column(model: Any) -> bool:
    # Asked on every refresh; a model's fields do not change while it runs.
    return any(f.name == "is_active" for f in model._meta.concrete_fields)


def authenticate_access(raw_access: str | bytes) -> SessionAccessToken:
    """Return the validated access token if its session is live; raise a `TokensError` if not."""
    return authenticate_access_user(raw_access, read_user=False)[0]


def authenticate_access_user(
    raw_access: str | bytes, *, read_user: bool = True
) -> tuple[SessionAccessToken, AbstractBaseUser | None]:
    """Return the validated access token if its session is live, and its user where it came too.

    Raise a `TokensError` if not. With a store whose sessions are rows of the user's database
    (the database store), one SELECT answers both questions: it reads the user on condition
    that the session is live (`BaseStore.read_if_live()`), and a missing or inactive user is
    `SessionRevoked` at once, as a session that is not live. With any other store the session
    is checked by `is_live()` and the user is None: the caller loads it when it needs the row
    (`token_user()`; `tokens.authentication.LazyUser`).
    """
    token = decode(raw_access, SessionAccessToken)
    store, now = get_store(), time.time()
    model = get_user_model()
    queries = (
        _user_queries(model, jwt_api_settings().USER_ID_FIELD, model._default_manager.db)
        if read_user
        else None
    )
    if queries is not None:
        param = queries.param(token[jwt_api_settings().USER_ID_CLAIM])

        def read(condition: str, params: list[Any]) -> list[Any]:
            if param is _NO_USER:
                return []
            sql = f"{queries.row_sql} AND {condition}"
            user = _read_user(model, queries, sql, [param, *params])
            return [] if user is None else [user]

        users = store.read_if_live(queries.alias, token.user_id, token.session_id, now, read)
        if users is not None:
            if not users or not getattr(users[0], "is_active", True):
                raise SessionRevoked()
            return token, users[0]  # type: ignore[return-value]
    if not store.is_live(token.user_id, token.session_id, now):
        raise SessionRevoked()
    return token, None  # type: ignore[return-value]


def session_is_live(user_id: str, session_id: str) -> bool:
    """Return whether this session is live now (what every authenticated request asks).

    For integrations that hold a session's ids rather than its token (a linked allauth
    session); raise `StoreUnavailable` when the store cannot answer.
    """
    return get_store().is_live(user_id, session_id, time.time())


def refresh_token_session(raw_refresh: str) -> SessionToken:
    """Return the validated refresh token (signature, type, expiry), without using it."""
    return decode(raw_refresh, SessionRefreshToken)


def end_session(
    user_id: str, session_id: str, *, reason: str, request: HttpRequest | None = None
) -> bool:
    """End one session and its access tokens at once; return whether it was live."""
    ended = get_store().delete(user_id, session_id)
    if ended:
        signals.session_revoked.send(
            sender=get_user_model(),
            user_id=user_id,
            session_id=session_id,
            reason=reason,
            request=request,
        )
        events.publish_sessions_ended(user_id, [session_id], reason)
    return ended


def end_all_sessions(
    user_id: str, *, reason: str, keep: str | None = None, request: HttpRequest | None = None
) -> list[str]:
    """End every session of a user (but `keep`) in one step; return the ended session ids.

    It also records now as the user's "ended before" time: a login whose password check began
    before it creates no session (`tokens.rules.admits_login()`).
    """
    ended = get_store().delete_all(user_id, keep=keep, ended_at=time.time())
    _announce(user_id, ended, reason, request)
    return ended


def _announce(
    user_id: str, session_ids: Iterable[str], reason: str, request: HttpRequest | None
) -> None:
    sender = get_user_model()
    for session_id in session_ids:
        signals.session_revoked.send(
            sender=sender, user_id=user_id, session_id=session_id, reason=reason, request=request
        )
    events.publish_sessions_ended(user_id, session_ids, reason)


def logout(
    token: SessionToken,
    *,
    request: HttpRequest | None = None,
    user: AbstractBaseUser | None = None,
) -> bool:
    """End the session a (validated) access or refresh token belongs to.

    A refresh token the session has rotated away still ends it, as reuse (see `revoke_token`).
    """
    ended, reused = _end_presented(token, reason="logout", presented_to="logout", request=request)
    if ended and not reused:
        if user is None:
            user = (
                get_user_model()
                ._default_manager.filter(
                    **{jwt_api_settings().USER_ID_FIELD: token[jwt_api_settings().USER_ID_CLAIM]}
                )
                .first()
            )
        user_logged_out.send(sender=get_user_model(), request=request, user=user)
    return ended


def revoke_token(raw: str, *, hint: str | None = None, request: HttpRequest | None = None) -> bool:
    """RFC 7009: end the session of a valid access or refresh token; ignore anything else."""
    first = SessionAccessToken if hint == "access_token" else SessionRefreshToken
    token = decode_either(raw, try_first=first)
    if token is None:
        return False
    ended, _ = _end_presented(token, reason="revoke", presented_to="revoke", request=request)
    return ended


def list_sessions(user: AbstractBaseUser) -> list[SessionRecord]:
    """Return the user's live sessions, newest first."""
    return get_store().sessions(user_id_of(user), time.time())


def end_user_session(
    user: AbstractBaseUser, session_id: str, *, reason: str, request: HttpRequest | None = None
) -> None:
    """End one of this user's sessions; raise `SessionNotFound` if it is not theirs or not live."""
    if not rules.is_identifier(session_id):
        raise SessionNotFound()
    if not end_session(user_id_of(user), session_id, reason=reason, request=request):
        raise SessionNotFound()


def logout_everywhere(user: AbstractBaseUser, *, request: HttpRequest | None = None) -> list[str]:
    """End every session of the user, each one's access tokens included, in one step."""
    ended = end_all_sessions(user_id_of(user), reason="logout_all", request=request)
    # `__class__`, not type(): request.user may be a lazy user (tokens.authentication.LazyUser).
    user_logged_out.send(sender=user.__class__, request=request, user=user)
    return ended


def change_password(user: AbstractBaseUser, new_password: str, *, keep_session: str | None) -> None:
    """Set a new password and end every session of the user but `keep_session`.

    This is the public helper for a site's own password views. The sessions end in the
    pre_save receiver (`tokens.receivers`), as for every other path that changes a password,
    before the new password is written: if the store is unavailable, `StoreUnavailable`
    propagates and the password is not changed. `keep_session` (the caller's session id, for
    example `request.auth.session_id`; None ends them all) is handed to that receiver for the
    duration of this save only, for this user only.
    """
    user.set_password(new_password)
    if keep_session is None:
        user.save()
        return
    with _keeping(user, keep_session):
        user.save()


@contextmanager
def _keeping(user: AbstractBaseUser, session_id: str) -> Iterator[None]:
    handoff = _keep_session.set((_model_label(user), user_id_of(user), session_id))
    try:
        yield
    finally:
        _keep_session.reset(handoff)


def kept_session(user: AbstractBaseUser) -> str | None:
    """Return the session `change_password()` keeps while it saves this user, else None.

    For the receiver that ends the user's sessions before a password change is saved.
    """
    keeping = _keep_session.get()
    if keeping is None:
        return None
    label, key, session_id = keeping
    if _model_label(user) != label or user_id_of(user) != key:
        return None
    return session_id


def _model_label(user: AbstractBaseUser) -> str:
    # `__class__`, not type(): request.user may be a lazy user (tokens.authentication.LazyUser).
    model = user.__class__
    return str((model._meta.concrete_model or model)._meta.label_lower)


def end_all_sessions_again(user_id: str, *, reason: str, keep: str | None = None) -> None:
    """Repeat `end_all_sessions()` after a commit, best-effort (see `tokens.receivers`).

    The sessions were ended before the change committed; this catches a login that checked the
    old password and created its session in between. A store that fails now is logged: the
    change is committed and cannot be undone, and what it would end is at most that one login.
    """
    try:
        end_all_sessions(user_id, reason=reason, keep=keep)
    except StoreUnavailable:
        logger.exception(
            "Could not end user %s's sessions again after a committed %s.", user_id, reason
        )


def live_sessions_listed() -> int:
    """Return how many sessions, newest first, the admin lists at most across users."""
    return get_store().admin_list_size


def count_live_sessions() -> int:
    """Return about how many sessions are live across all users, up to those the admin lists."""
    store = get_store()
    return min(store.count_all(), store.admin_list_size)


def live_sessions_page(offset: int, limit: int) -> list[SessionRecord]:
    """Return one page of live sessions across all users, newest first (for the admin).

    Pages go no further than the newest `live_sessions_listed()` sessions. Its cost is bounded
    by `limit`, whatever the number of sessions in the store.
    """
    store = get_store()
    limit = min(limit, store.admin_list_size - offset)
    return store.page_all(offset, limit, time.time()) if limit > 0 else []
