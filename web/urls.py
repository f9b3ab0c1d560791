from django.contrib.auth import views as auth_views
from django.urls import path

from web import pages

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", pages.project_list, name="project-list"),
    path("projects/<uuid:project_id>/", pages.project_page, name="project-page"),
    path("projects/<uuid:project_id>/delete", pages.project_delete, name="project-delete"),
    path("diffs/<uuid:diff_id>/", pages.diff_page, name="diff-page"),
    path("diff-layout", pages.diff_layout, name="diff-layout"),
    path("pygments.css", pages.pygments_css, name="pygments-css"),
    path("favicon.ico", pages.favicon, name="favicon"),
]
