"""The service's one protected endpoint."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tokens.resource.authentication import ServiceUser


class WhoAmIView(APIView):
    """`GET /api/whoami`: the user and session of the bearer token (401 without a live one)."""

    def get(self, request: Request) -> Response:
        """Return the token's user id and session id."""
        user = request.user
        # The permission (IsAuthenticated) let only ResourceTokenAuthentication's users in.
        assert isinstance(user, ServiceUser)
        return Response({"user_id": user.id, "session_id": user.session_id, "service": "demo"})
