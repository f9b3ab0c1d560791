from django.contrib import admin
from django.urls import include, path

from vibegrapher.health import health

urlpatterns = [
    path("health", health, name="health"),
    path("admin/", admin.site.urls),
    path("api/", include("accounts.urls")),
    path("api/", include("projects.urls")),
    path("api/", include("sessions_app.urls")),
    path("api/", include("reviews.urls")),
    path("", include("reviews.page_urls")),
]
