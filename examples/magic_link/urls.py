"""Include under any prefix: `path("auth/magic-link/", include("examples.magic_link.urls"))`."""

from django.urls import path

from . import views

app_name = "magic_link"

urlpatterns = [
    path("request", views.request_link, name="request"),
    path("redeem", views.redeem_link, name="redeem"),
]
