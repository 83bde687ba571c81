"""The app at `auth/v1/`, and one view of the site's own that needs the logged-in user."""

from collections.abc import Callable
from typing import Any

from django.urls import include, path
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tokens.authentication import SessionJWTAuthentication
from tokens.exceptions import exception_handler


class MeView(APIView):
    """Return the caller's primary key and email (a UUID user, loaded by the app)."""

    # The site keeps DRF's defaults; this view takes the app's bearer tokens and answers their
    # errors as the app does, {"code", "detail"}, so a client tells an ended session apart.
    authentication_classes = [SessionJWTAuthentication]
    permission_classes = [IsAuthenticated]

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response | None]:
        return exception_handler

    def get(self, request: Request) -> Response:
        return Response({"id": str(request.user.pk), "email": getattr(request.user, "email", "")})


urlpatterns = [
    path("auth/v1/", include("tokens.urls")),
    path("me", MeView.as_view()),
]
