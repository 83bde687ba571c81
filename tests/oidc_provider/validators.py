"""The provider's id tokens carry the user's email (verified) and username."""

from __future__ import annotations

from typing import Any

from oauth2_provider.oauth2_validators import OAuth2Validator


class ClaimsValidator(OAuth2Validator):
    """django-oauth-toolkit's validator, with the email and profile claims filled in."""

    oidc_claim_scope = None  # every claim below goes in the id token, whatever the scope

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        """Return the user's email, that it is verified, and the username."""
        user = request.user
        return {
            "email": user.email,
            "email_verified": True,
            "preferred_username": user.username,
        }
