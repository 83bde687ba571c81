from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tokens import services
from tokens.serializers import DetailSerializer, ErrorSerializer
from tokens.throttling import check_password_budget

from .serializers import PasswordChangeSerializer, UserInfoSerializer


class UserInfoView(APIView):
    """The signed-in user's id, username, email and names."""

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


class PasswordChangeView(APIView):
    """Change the caller's password; every other session ends, this one stays signed in."""

    @extend_schema(
        request=PasswordChangeSerializer,
        responses={
            200: DetailSerializer,
            400: OpenApiResponse(ErrorSerializer, description="invalid_request"),
            401: OpenApiResponse(ErrorSerializer, description="not_authenticated, access_token_*"),
            429: OpenApiResponse(ErrorSerializer, description="throttled (see Retry-After)"),
            503: OpenApiResponse(ErrorSerializer, description="store_unavailable"),
        },
        tags=["user"],
    )
    def post(self, request: Request) -> Response:
        # The old password is a password check like a login: a stolen access token must not
        # buy unlimited guesses. Past the user's budget nothing is checked, so nothing is told.
        if hasattr(request.data, "get") and "old_password" in request.data:
            check_password_budget(request.user)
        data = PasswordChangeSerializer(data=request.data, context={"user": request.user})
        data.is_valid(raise_exception=True)
        services.change_password(
            request.user,
            data.validated_data["new_password"],
            keep_session=request.auth.session_id,  # type: ignore[union-attr]
        )
        return Response({"detail": "Password changed. Other sessions have been ended."})
