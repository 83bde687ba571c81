"""Input validation and response shapes for the token endpoints."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .stores import SessionRecord

# A JWT of ours is a few hundred bytes; anything far larger is not one and is refused early.
MAX_TOKEN_LENGTH = 4096


class TokenField(serializers.CharField):
    """A raw token: a bounded, non-blank string."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("max_length", MAX_TOKEN_LENGTH)
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def to_internal_value(self, data: Any) -> str:
        # DRF's CharField turns a number into a string; a token is never a number.
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class UsernameField(serializers.CharField):
    """A username as the login endpoints authenticate it.

    DRF's CharField trims whitespace (Unicode spaces too) and turns a JSON number into a
    string; then the user model's own `normalize_username()` (NFKC), as Django's login form
    does. The login throttle counts by this same value (`tokens.throttling`).
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 150)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        return str(get_user_model().normalize_username(value))


class LoginSerializer(serializers.Serializer):
    username = UsernameField()
    password = serializers.CharField(max_length=4096, trim_whitespace=False)
    use_cookie = serializers.BooleanField(
        default=False,
        help_text=_("Set the refresh token as an HttpOnly cookie instead of returning it."),
    )


class RefreshSerializer(serializers.Serializer):
    refresh_token = TokenField(
        required=False, help_text=_("Leave out to use the refresh-token cookie (CSRF required).")
    )


def refresh_token_in(data: Any) -> str | None:
    """Return the body's `refresh_token` as `RefreshSerializer` validates it (None: absent).

    Every refresh passes here, and a DRF serializer costs tens of microseconds to build and
    run (a deep copy of its fields, then a per-character surrogate check). A clean token (an
    ASCII string of sensible length, nothing to trim) is what the serializer would return
    unchanged, so it is taken as it is; anything else gets the serializer and its errors.
    """
    if type(data) is dict:
        value = data.get("refresh_token")
        if (
            type(value) is str
            and 0 < len(value) <= MAX_TOKEN_LENGTH
            and value.isascii()
            and value.isprintable()
            and not value[0].isspace()
            and not value[-1].isspace()
        ):
            return value
    serializer = RefreshSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data.get("refresh_token")


class LogoutSerializer(serializers.Serializer):
    refresh_token = TokenField(required=False)


class RevokeSerializer(serializers.Serializer):
    token = TokenField()
    token_type_hint = serializers.ChoiceField(
        choices=["access_token", "refresh_token"], required=False
    )


class OAuthTokenRequestSerializer(serializers.Serializer):
    """RFC 6749 token request (password and refresh_token grants)."""

    grant_type = serializers.CharField(max_length=64)
    username = UsernameField(required=False)
    password = serializers.CharField(max_length=4096, required=False, trim_whitespace=False)
    refresh_token = TokenField(required=False)
    client_id = serializers.CharField(max_length=255, required=False)
    scope = serializers.CharField(max_length=1024, required=False)


class TokenPairSerializer(serializers.Serializer):
    """RFC 6749 §5.1 successful token response."""

    token_type = serializers.CharField(default="Bearer")
    access_token = serializers.CharField()
    expires_in = serializers.IntegerField(help_text=_("Seconds until the access token expires."))
    refresh_token = serializers.CharField(
        required=False, help_text=_("Left out when the refresh token is set as a cookie.")
    )
    refresh_expires_in = serializers.IntegerField(
        help_text=_("Seconds until the refresh token expires.")
    )


class ErrorSerializer(serializers.Serializer):
    """Every error body: a stable `code` and a human `detail`."""

    code = serializers.CharField()
    detail = serializers.CharField()


class OAuthErrorSerializer(ErrorSerializer):
    error = serializers.CharField()
    error_description = serializers.CharField(required=False)


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


_BROWSERS = [
    ("Edge", re.compile(r"Edg(e|A|iOS)?/")),
    ("Opera", re.compile(r"OPR/|Opera")),
    ("Firefox", re.compile(r"Firefox/|FxiOS/")),
    ("Chrome", re.compile(r"Chrome/|CriOS/|Chromium/")),
    ("Safari", re.compile(r"Safari/")),
]
_SYSTEMS = [
    ("Android", re.compile(r"Android")),
    ("iOS", re.compile(r"iPhone|iPad|iPod")),
    ("Windows", re.compile(r"Windows")),
    ("macOS", re.compile(r"Mac OS X|Macintosh")),
    ("ChromeOS", re.compile(r"CrOS")),
    ("Linux", re.compile(r"Linux")),
]
_TOOLS = re.compile(r"^(python-httpx|python-requests|curl|Wget|okhttp|axios|node-fetch)\b", re.I)


def device_label(user_agent: str) -> str:
    """Return a short label for a user agent, such as "Firefox on Linux" or "curl"."""
    if not user_agent:
        return str(_("Unknown device"))
    tool = _TOOLS.match(user_agent)
    if tool:
        return tool.group(1)
    browser = next((name for name, pattern in _BROWSERS if pattern.search(user_agent)), None)
    system = next((name for name, pattern in _SYSTEMS if pattern.search(user_agent)), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or user_agent.split("/", 1)[0][:40]


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


class SessionSerializer(serializers.Serializer):
    """One live session as the sessions endpoint shows it."""

    id = serializers.CharField(source="session_id")
    created_at = serializers.SerializerMethodField()
    last_used_at = serializers.SerializerMethodField()
    expires_at = serializers.SerializerMethodField()
    ip = serializers.CharField()
    user_agent = serializers.CharField()
    device = serializers.SerializerMethodField()
    current = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_created_at(self, record: SessionRecord) -> datetime:
        return _moment(record.created_at)

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_last_used_at(self, record: SessionRecord) -> datetime:
        return _moment(record.last_used_at)

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_expires_at(self, record: SessionRecord) -> datetime:
        return _moment(record.expires_at)

    def get_device(self, record: SessionRecord) -> str:
        return device_label(record.user_agent)

    def get_current(self, record: SessionRecord) -> bool:
        current: Any = self.context.get("current_session_id")
        return bool(current) and record.session_id == current
