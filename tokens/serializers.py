"""Input validation and response shapes for the token endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from .display import device_label, moment
from .stores import SessionRecord

# A JWT of ours is a few hundred bytes; anything far larger is not one and is refused early.
MAX_TOKEN_LENGTH = 4096


class _NoSurrogates(ProhibitSurrogateCharactersValidator):
    """DRF's check that a string has no surrogate, without its scan of an ASCII string.

    DRF looks at every character in Python; a token of a few hundred ASCII characters, which
    every refresh sends, can hold none, and `str.isascii()` says so at C speed.
    """

    def __call__(self, value: Any) -> None:
        if not str(value).isascii():
            super().__call__(value)


class TokenField(serializers.CharField):
    """A raw token: a bounded, non-blank string."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("max_length", MAX_TOKEN_LENGTH)
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.validators = [
            _NoSurrogates() if isinstance(v, ProhibitSurrogateCharactersValidator) else v
            for v in self.validators
        ]

    def to_internal_value(self, data: Any) -> str:
        # DRF's CharField turns a number into a string; a token is never a number.
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class UsernameField(serializers.CharField):
    """A username as the login endpoints authenticate it.

    DRF's CharField trims whitespace (Unicode spaces too) and turns a JSON number into a
    string; then the user model's own `normalize_username()` (NFKC), as Django's login form
    does. At most as long as the user model's USERNAME_FIELD allows (150 when it sets no
    limit). The login throttle counts by this same value (`tokens.throttling`).
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", login_name_max_length())
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        return str(get_user_model().normalize_username(value))


# Fields of the login and token requests: a user model whose USERNAME_FIELD is one of these
# names logs in as `username` only.
_CREDENTIAL_FIELDS = frozenset(
    {"username", "password", "use_cookie", "grant_type", "refresh_token", "client_id", "scope"}
)


def login_name_field() -> str | None:
    """Return the name the login endpoints accept besides `username`, or None.

    That is the user model's USERNAME_FIELD (`email` for a model that logs in by email), read
    at call time so that it follows AUTH_USER_MODEL.
    """
    name = str(get_user_model().USERNAME_FIELD)
    return None if name in _CREDENTIAL_FIELDS else name


def login_name_max_length() -> int:
    """Return the longest login name the user model's USERNAME_FIELD stores (150 if unbounded)."""
    model = get_user_model()
    try:
        limit = getattr(model._meta.get_field(model.USERNAME_FIELD), "max_length", None)
    except FieldDoesNotExist:
        limit = None
    return limit if isinstance(limit, int) and limit > 0 else 150


def login_name(data: Any) -> Any:
    """Return the raw login name of a login or token request body, as its serializer reads it.

    The USERNAME_FIELD name when the body has it, else `username`. A body with both is
    refused by the serializer unless they agree, so this is the name a password is checked
    for (the login throttle counts it).
    """
    if not hasattr(data, "get"):
        return None
    name = login_name_field()
    if name is not None and name in data:
        return data.get(name)
    return data.get("username")


class LoginNameMixin(serializers.Serializer):
    """Take the login name as `username` or under the user model's USERNAME_FIELD name.

    A site whose users log in by email accepts `{"email": ...}` as well as `{"username": ...}`;
    either way `validated_data["username"]` holds it, as Django's `authenticate(username=...)`
    takes it (the model backend looks it up by USERNAME_FIELD).
    """

    # Whether the request must name a user (the login endpoint) or may not (the token
    # endpoint, whose refresh_token grant has none).
    login_name_required = True

    def get_fields(self) -> dict[str, serializers.Field]:
        fields: dict[str, serializers.Field] = {}
        name = login_name_field()
        if name is None:
            fields["username"] = UsernameField(required=self.login_name_required)
        else:
            fields[name] = UsernameField(
                required=False,
                help_text=_("The user's %(field)s. It may be sent as username instead.")
                % {"field": name},
            )
            fields["username"] = UsernameField(
                required=False,
                help_text=_("The user's %(field)s, under the name username.") % {"field": name},
            )
        fields.update(super().get_fields())
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        name = login_name_field()
        if name is None:
            return attrs
        value = attrs.pop(name, None)
        alias = attrs.get("username")
        if value is not None and alias is not None and value != alias:
            raise serializers.ValidationError(
                {
                    name: [
                        _("Give %(field)s or username, not two different names.") % {"field": name}
                    ]
                },
                code="invalid",
            )
        if value is not None:
            attrs["username"] = value
        if self.login_name_required and "username" not in attrs:
            raise serializers.ValidationError(
                {name: [serializers.Field.default_error_messages["required"]]}, code="required"
            )
        return attrs


class LoginSerializer(LoginNameMixin):
    """A login: the user's name, under the user model's USERNAME_FIELD name or as `username`."""

    password = serializers.CharField(max_length=4096, trim_whitespace=False)
    use_cookie = serializers.BooleanField(
        default=False,
        help_text=_("Set the refresh token as an HttpOnly cookie instead of returning it."),
    )


class RefreshSerializer(serializers.Serializer):
    refresh_token = TokenField(
        required=False, help_text=_("Leave out to use the refresh-token cookie (CSRF required).")
    )


class LogoutSerializer(serializers.Serializer):
    refresh_token = TokenField(required=False)


class RevokeSerializer(serializers.Serializer):
    token = TokenField()
    token_type_hint = serializers.ChoiceField(
        choices=["access_token", "refresh_token"], required=False
    )


class OAuthTokenRequestSerializer(LoginNameMixin):
    """RFC 6749 token request (password and refresh_token grants).

    The password grant's `username` is the user model's USERNAME_FIELD value (the email, for a
    model that logs in by email); that name is accepted in its place, as on the login endpoint.
    """

    login_name_required = False

    grant_type = serializers.CharField(max_length=64)
    password = serializers.CharField(max_length=4096, required=False, trim_whitespace=False)
    refresh_token = TokenField(required=False)
    client_id = serializers.CharField(max_length=255, required=False)
    scope = serializers.CharField(max_length=1024, required=False)


class PasswordChangeSerializer(serializers.Serializer):
    """The current password, and a new one that passes the site's password validators.

    The current password is checked only once the new one is valid (`validate()` runs after the
    fields), so an invalid new password answers the same whether the old one was right or not.
    The view passes the user in the context (`{"user": request.user}`).
    """

    old_password = serializers.CharField(max_length=4096, trim_whitespace=False)
    new_password = serializers.CharField(max_length=4096, trim_whitespace=False)

    def validate_new_password(self, value: str) -> str:
        try:
            validate_password(value, self.context["user"])
        except DjangoValidationError as exc:
            raise serializers.ValidationError(list(exc.messages), code="weak_password") from exc
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not self.context["user"].check_password(attrs["old_password"]):
            raise serializers.ValidationError(
                {"old_password": [_("The current password is wrong.")]}, code="wrong_password"
            )
        return attrs


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
        return moment(record.created_at)

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_last_used_at(self, record: SessionRecord) -> datetime:
        return moment(record.last_used_at)

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_expires_at(self, record: SessionRecord) -> datetime:
        return moment(record.expires_at)

    def get_device(self, record: SessionRecord) -> str:
        return device_label(record.user_agent)

    def get_current(self, record: SessionRecord) -> bool:
        current: Any = self.context.get("current_session_id")
        return bool(current) and record.session_id == current
