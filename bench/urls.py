"""The site's URLs, plus the bench views and simplejwt's own views under /bench/simplejwt/."""

from django.urls import path
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from config.urls import handler400, handler404, handler500
from config.urls import urlpatterns as site_urlpatterns

from . import views

urlpatterns = [
    path("bench/bare", views.BareView.as_view()),
    path("bench/refresh-io-floor/<int:user_id>", views.RefreshIOFloorView.as_view()),
    path("bench/ours/id", views.OursIdView.as_view()),
    path("bench/ours/user", views.OursUserView.as_view()),
    path("bench/simplejwt/id", views.SimpleJWTIdView.as_view()),
    path("bench/simplejwt/user", views.SimpleJWTUserView.as_view()),
    path("bench/simplejwt/token", TokenObtainPairView.as_view()),
    path("bench/simplejwt/token/refresh", TokenRefreshView.as_view()),
    *site_urlpatterns,
]

__all__ = ["handler400", "handler404", "handler500", "urlpatterns"]
