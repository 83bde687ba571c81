from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from .models import User


class UserInfoSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name"]
        read_only_fields = fields


class PasswordChangeSerializer(serializers.Serializer):
    """The current password, and a new one that passes the site's password validators.

    The current password is checked only once the new one is valid (`validate()` runs after the
    fields), so an invalid new password answers the same whether the old one was right or not.
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
                {"old_password": ["The current password is wrong."]}, code="wrong_password"
            )
        return attrs
