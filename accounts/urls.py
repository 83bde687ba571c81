"""The demo's own endpoints under `api/user/`.

`info` is a sample of a site's own view. `password` is the app's password-change view
(`tokens.views.PasswordChangeView`, also at `api/auth/password`), kept at this older address
so that clients of the demo that use it keep working.
"""

from django.urls import path

from tokens.views import PasswordChangeView

from . import views

app_name = "accounts"

urlpatterns = [
    path("info", views.UserInfoView.as_view(), name="info"),
    path("password", PasswordChangeView.as_view(), name="password"),
]
