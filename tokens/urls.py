"""URLs of the tokens app; include them under `api/`: `path("api/", include("tokens.urls"))`."""

from django.urls import path

from . import views

app_name = "tokens"

urlpatterns = [
    path("auth/login", views.LoginView.as_view(), name="login"),
    path("auth/refresh", views.RefreshView.as_view(), name="refresh"),
    path("auth/token", views.OAuthTokenView.as_view(), name="token"),
    path("auth/revoke", views.RevokeView.as_view(), name="revoke"),
    path("auth/logout", views.LogoutView.as_view(), name="logout"),
    path("auth/logout-all", views.LogoutAllView.as_view(), name="logout-all"),
    path("auth/sessions", views.SessionListView.as_view(), name="sessions"),
    path("auth/sessions/<str:session_id>", views.SessionDetailView.as_view(), name="session"),
]
