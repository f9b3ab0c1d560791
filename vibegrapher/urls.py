from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from vibegrapher.api.api_docs import ApiDocsView
from vibegrapher.api.api_errors import not_found
from vibegrapher.server.health import health

# The admin is the audit tool (docs/pages.md): named so, not "Django administration".
admin.site.site_header = "Vibegrapher audit"
admin.site.site_title = "Vibegrapher audit"
admin.site.index_title = "Stored model calls, conversations, sessions and diffs"

handler400 = "vibegrapher.api.api_errors.bad_request"
handler500 = "vibegrapher.api.api_errors.server_error"

urlpatterns = [
    path("health", health, name="health"),
    path("admin/", admin.site.urls),
    path("api/", include("accounts.urls")),
    path("api/", include("projects.urls")),
    path("api/", include("sessions_app.urls")),
    path("api/", include("reviews.urls")),
    path("api/", include("testruns.urls")),
    path("api/", include("trials.urls")),
    path("api/", include("cases.urls")),
    path("api/", include("agents_app.urls")),
    # The OpenAPI document (YAML; `?format=json` for JSON) and its docs page.
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
    # Anything else under /api/ (unknown path, trailing slash, non-UUID id): JSON 404,
    # whatever the characters (`[\s\S]`: newlines too, which `.` and `$` let through).
    re_path(r"^api(?:[/\s](?P<path>[\s\S]*))?\Z", not_found, name="api-not-found"),
    path("", include("web.urls")),
]
