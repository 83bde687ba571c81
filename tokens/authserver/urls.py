"""The site-root URL of the RFC 8414 metadata: `path("", include("tokens.authserver.urls"))`.

RFC 8414 puts the metadata at `/.well-known/oauth-authorization-server`, outside the app's
`api/` mount point, so the site includes this module at its root (the endpoints it names are
those of `tokens.urls`, which the site includes too).
"""

from __future__ import annotations

from django.urls import path

from .views import AuthorizationServerMetadataView

urlpatterns = [
    path(
        ".well-known/oauth-authorization-server",
        AuthorizationServerMetadataView.as_view(),
        name="oauth-authorization-server",
    ),
]
