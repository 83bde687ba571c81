from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("info", views.UserInfoView.as_view(), name="info"),
    path("password", views.PasswordChangeView.as_view(), name="password"),
]
