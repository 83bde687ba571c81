"""The service's one protected endpoint."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class WhoAmIView(APIView):
    """`GET /api/whoami`: the user and session of the bearer token (401 without a live one)."""

    def get(self, request: Request) -> Response:
        """Return the token's user id, session id and key id."""
        return Response(
            {"user_id": request.user.id, "session_id": request.user.session_id, "service": "demo"}
        )
