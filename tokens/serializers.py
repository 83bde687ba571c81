"""Input validation and response shapes for the token endpoints."""

from __future__ import annotations

from rest_framework import serializers

# A JWT of ours is a few hundred bytes; anything far larger is not one and is refused early.
MAX_TOKEN_LENGTH = 4096


class TokenField(serializers.CharField):
    """A raw token: a bounded, non-blank string."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("max_length", MAX_TOKEN_LENGTH)
        super().__init__(**kwargs)  # type: ignore[arg-type]


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class RefreshSerializer(serializers.Serializer):
    refresh_token = TokenField()


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
    username = serializers.CharField(max_length=150, required=False)
    password = serializers.CharField(max_length=4096, required=False, trim_whitespace=False)
    refresh_token = TokenField(required=False)
    client_id = serializers.CharField(max_length=255, required=False)
    scope = serializers.CharField(max_length=1024, required=False)


class TokenPairSerializer(serializers.Serializer):
    """RFC 6749 §5.1 successful token response."""

    token_type = serializers.CharField(default="Bearer")
    access_token = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")
    refresh_token = serializers.CharField(
        required=False, help_text="Left out when the refresh token is set as a cookie."
    )
    refresh_expires_in = serializers.IntegerField(
        help_text="Seconds until the refresh token expires."
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
