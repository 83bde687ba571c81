"""Endpoints for the site's other services: JWKS, RFC 8414 metadata, RFC 7662 introspection."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote_plus

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from ..conf import tokens_settings
from ..jwt import current_keyring, jwt_api_settings, site_origin
from ..parsers import JSONParser
from ..serializers import ErrorSerializer
from ..views import TokensAPIView
from . import clients, introspection

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _cacheable() -> dict[str, str]:
    return {"Cache-Control": f"public, max-age={int(tokens_settings.JWKS_MAX_AGE)}"}


class JWKSView(TokensAPIView):
    """`GET /api/auth/jwks`: the RFC 7517 JWK Set of the public keys that verify the site's tokens.

    It lists the current key and every key of `TOKENS["VERIFYING_KEYS"]` (next and retired),
    each with its `kid`, `alg` and `use`; never a private or an HMAC key (a site that signs
    with HS256 publishes an empty set).
    """

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: OpenApiResponse(description="RFC 7517 JWK Set")})
    def get(self, request: Request) -> Response:
        """Return the JWK Set; clients may cache it for `TOKENS["JWKS_MAX_AGE"]` seconds."""
        return Response(current_keyring().jwk_set(), headers=_cacheable())


class AuthorizationServerMetadataView(TokensAPIView):
    """`GET /.well-known/oauth-authorization-server`: RFC 8414 metadata of the site.

    Mounted by the site at its root (`path("", include("tokens.authserver.urls"))`), beside
    `path("api/", include("tokens.urls"))`, whose endpoints it names.
    """

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: OpenApiResponse(description="RFC 8414 metadata")})
    def get(self, request: Request) -> Response:
        """Return the metadata; the issuer is `SIMPLE_JWT["ISSUER"]`, else the site's origin.

        The same issuer a key pair's access tokens name (`tokens.jwt.access_issuer()`).
        """
        issuer = jwt_api_settings().ISSUER or site_origin(request)

        def url(name: str) -> str:
            return request.build_absolute_uri(reverse(f"tokens:{name}"))

        body = {
            "issuer": issuer,
            "token_endpoint": url("token"),
            "revocation_endpoint": url("revoke"),
            "introspection_endpoint": url("introspect"),
            "jwks_uri": url("jwks"),
            "grant_types_supported": ["password", "refresh_token"],
            # No authorization endpoint: no response types (RFC 8414 §2 requires the member).
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        }
        return Response(body, headers=_cacheable())


class ServiceClientAuthentication(BaseAuthentication):
    """HTTP Basic with a service client's id and secret (RFC 6749 §2.3.1 encoding)."""

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        """Return (client, None) for valid credentials, None when none are sent."""
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _sep, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidClient() from exc
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise InvalidClient()
        client = clients.authenticate_client(unquote_plus(client_id), unquote_plus(secret))
        if client is None:
            raise InvalidClient()
        return client, None

    def authenticate_header(self, request: Request) -> str:
        """Ask for HTTP Basic credentials."""
        return 'Basic realm="introspection"'


class InvalidClient(exceptions.AuthenticationFailed):
    """401: the service client's credentials are wrong, or the client is inactive."""

    default_detail = _("Invalid client credentials.")
    default_code = "invalid_client"


class IsServiceClient(BasePermission):
    """Allow only requests authenticated as a service client."""

    def has_permission(self, request: Request, view: Any) -> bool:
        """Return whether a service client made the request."""
        from ..models import ServiceClient

        return isinstance(request.user, ServiceClient)


class IntrospectionRequestSerializer(serializers.Serializer[Any]):
    """The RFC 7662 §2.1 request."""

    token = serializers.CharField(trim_whitespace=False, max_length=8192)
    token_type_hint = serializers.CharField(required=False, allow_blank=True, max_length=64)


class IntrospectionResponseSerializer(serializers.Serializer[Any]):
    """The RFC 7662 §2.2 response: `active` alone when the token is not active."""

    active = serializers.BooleanField()
    sub = serializers.CharField(required=False)
    username = serializers.CharField(required=False)
    exp = serializers.IntegerField(required=False)
    iat = serializers.IntegerField(required=False)
    sid = serializers.CharField(required=False)
    token_type = serializers.CharField(required=False, help_text="access_token or refresh_token")
    jti = serializers.CharField(required=False)
    iss = serializers.CharField(required=False)


class ServiceClientScheme(OpenApiAuthenticationExtension):
    """OpenAPI description of the service clients' HTTP Basic authentication."""

    target_class = "tokens.authserver.views.ServiceClientAuthentication"
    name = "serviceClientBasic"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        """Describe HTTP Basic with a client id and secret."""
        return {"type": "http", "scheme": "basic"}


class IntrospectView(TokensAPIView):
    """`POST /api/auth/introspect`: RFC 7662 token introspection for service clients.

    A token whose session is live answers `active: true` with `sub`, `username`, `exp`, `iat`,
    `sid`, `token_type` and `jti`; anything else (a revoked session's tokens at once) answers
    `{"active": false}`. Callers authenticate with HTTP Basic (`manage.py tokens_clients`);
    without valid credentials: 401 with `WWW-Authenticate: Basic`.
    """

    authentication_classes = [ServiceClientAuthentication]
    permission_classes = [IsServiceClient]
    parser_classes = [FormParser, JSONParser]

    @extend_schema(
        request={
            "application/x-www-form-urlencoded": IntrospectionRequestSerializer,
            "application/json": IntrospectionRequestSerializer,
        },
        responses={
            200: IntrospectionResponseSerializer,
            400: OpenApiResponse(ErrorSerializer, description="invalid_request: no token"),
            401: OpenApiResponse(
                ErrorSerializer, description="not_authenticated, invalid_client (HTTP Basic)"
            ),
            503: OpenApiResponse(ErrorSerializer, description="store_unavailable"),
        },
    )
    def post(self, request: Request) -> Response:
        """Return the token's RFC 7662 description."""
        data = IntrospectionRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        answer = introspection.introspect(
            data.validated_data["token"], data.validated_data.get("token_type_hint") or None
        )
        return Response(answer, headers=NO_STORE)
