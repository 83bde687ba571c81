"""OpenAPI (drf-spectacular) description of the bearer authentication."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class SessionJWTScheme(OpenApiAuthenticationExtension):
    target_class = "tokens.authentication.SessionJWTAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        """Describe the bearer access token."""
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
