from django.urls import path

from accounts.views import AuthTokenView

urlpatterns = [
    path("auth/token", AuthTokenView.as_view(), name="auth-token"),
]
