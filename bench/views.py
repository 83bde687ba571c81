"""This app's bench endpoints: a bare view (the floor), a refresh's I/O alone, and the
authenticated GETs.

`OursUserView` has the shape of the anchor's `GET /api/user/info` (`{id, username}`, behind
simplejwt's `JWTAuthentication` there, this app's `SessionJWTAuthentication` here); `OursIdView`
answers the id alone, which this app serves without reading the user row.
"""

import time
from typing import Any

from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tokens import services
from tokens.authentication import SessionJWTAuthentication
from tokens.stores import get_store


class BareView(APIView):
    """No authentication, no permission, no database: the cost of Django + DRF alone."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class RefreshIOFloorView(APIView):
    """The I/O a refresh cannot do without, and nothing else: the floor under its latency.

    One Redis command on the user's session hash (a refresh's rotation is one script) and the
    user check's query, one after the other as a refresh makes them. No token is decoded or
    minted, no body parsed. No authentication or permission, as the bare view.
    """

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def get(self, request: Request, user_id: int) -> Response:
        get_store().is_live(str(user_id), "bench", time.time())
        return Response({"active": services.user_is_active(user_id)})


class OursIdView(APIView):
    """This app: verify the access token, check its session in Redis, answer the user id."""

    authentication_classes = [SessionJWTAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return Response({"id": request.user.id})


class OursUserView(OursIdView):
    """As OursIdView, but the answer needs a column of the user row."""

    def get(self, request: Request) -> Response:
        return Response({"id": request.user.id, "username": request.user.username})
