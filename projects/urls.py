from django.urls import path

from projects import graph_views, views

urlpatterns = [
    path("projects", views.ProjectListView.as_view(), name="project-list-api"),
    path(
        "projects/<uuid:project_id>", views.ProjectDetailView.as_view(), name="project-detail-api"
    ),
    path(
        "projects/<uuid:project_id>/commits",
        views.ProjectCommitsView.as_view(),
        name="project-commits",
    ),
    path(
        "projects/<uuid:project_id>/export",
        views.ProjectExportView.as_view(),
        name="project-export",
    ),
    path(
        "projects/<uuid:project_id>/nodes", views.ProjectNodesView.as_view(), name="project-nodes"
    ),
    path(
        "projects/<uuid:project_id>/graph",
        graph_views.ProjectGraphView.as_view(),
        name="project-graph",
    ),
    path(
        "projects/<uuid:project_id>/tests",
        views.ProjectTestCasesView.as_view(),
        name="project-tests",
    ),
    path(
        "projects/<uuid:project_id>/tests/quick",
        views.ProjectTestCasesView.as_view(quick_only=True, http_method_names=["get", "options"]),
        name="project-tests-quick",
    ),
    path("tests/<uuid:test_id>", views.TestCaseDetailView.as_view(), name="test-detail"),
]
