from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tokens.serializers import ErrorSerializer

from .serializers import UserInfoSerializer


class UserInfoView(APIView):
    """The signed-in user's id, username, email and names (a sample of a site's own view)."""

    @extend_schema(
        responses={
            200: UserInfoSerializer,
            401: OpenApiResponse(
                ErrorSerializer,
                description="not_authenticated, access_token_invalid, access_token_expired, "
                "session_revoked",
            ),
            503: OpenApiResponse(ErrorSerializer, description="store_unavailable"),
        },
        tags=["user"],
    )
    def get(self, request: Request) -> Response:
        return Response(UserInfoSerializer(request.user).data)
