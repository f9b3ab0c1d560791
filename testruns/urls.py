from django.urls import path

from testruns import views

urlpatterns = [
    path("diffs/<uuid:diff_id>/test", views.DiffTestsView.as_view(), name="diff-test"),
    path(
        "projects/<uuid:project_id>/tests/run",
        views.HeadTestsView.as_view(),
        name="project-tests-run",
    ),
]
