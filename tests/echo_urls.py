"""The site's URLs plus a test-only authenticated echo endpoint (TEST_URLCONF=tests.echo_urls).

`POST /api/test/echo` answers with the exact bytes it received, so a test can prove a request
replayed after a 401 arrived intact. It never ships: only test servers load this URLconf.
"""

import base64

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import handler400, handler404, handler500, urlpatterns

__all__ = ["handler400", "handler404", "handler500", "urlpatterns"]


class EchoView(APIView):
    """Return the caller's username and the raw request body (base64) with its content type."""

    def post(self, request: Request) -> Response:
        raw = request._request.body
        return Response(
            {
                "user": request.user.get_username(),
                "content_type": request.content_type,
                "body": base64.b64encode(raw).decode(),
            }
        )


urlpatterns = [path("api/test/echo", EchoView.as_view()), *urlpatterns]
