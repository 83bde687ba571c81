"""A site that mounts the app elsewhere (TEST_URLCONF=tests.urls_v1): the refresh cookie follows.

The app at `auth/v1/` (its default instance), a second instance at `legacy/` (namespace
"legacy"), and the demo's user endpoints at `api/user/` (a view that needs the signed-in user).
"""

from django.urls import include, path

urlpatterns = [
    path("auth/v1/", include("tokens.urls")),
    path("legacy/", include("tokens.urls", namespace="legacy")),
    path("api/user/", include("accounts.urls")),
]
