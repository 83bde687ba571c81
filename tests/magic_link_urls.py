"""The site's URLs plus the magic-link example (examples/magic_link) at `/auth/magic-link/`."""

from django.urls import include, path

from config.urls import urlpatterns as site_urlpatterns

urlpatterns = [
    *site_urlpatterns,
    path("auth/magic-link/", include("examples.magic_link.urls")),
]
