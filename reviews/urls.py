from django.urls import path

from reviews import graph_views, views

urlpatterns = [
    path(
        "projects/<uuid:project_id>/diffs", views.ProjectDiffsView.as_view(), name="project-diffs"
    ),
    path(
        "sessions/<uuid:session_id>/diffs", views.SessionDiffsView.as_view(), name="session-diffs"
    ),
    path(
        "sessions/<uuid:session_id>/diffs/pending",
        views.SessionDiffsView.as_view(pending_only=True),
        name="session-diffs-pending",
    ),
    path("diffs/<uuid:diff_id>", views.DiffView.as_view(), name="diff-detail"),
    path("diffs/<uuid:diff_id>/preview", views.DiffPreviewView.as_view(), name="diff-preview"),
    path("diffs/<uuid:diff_id>/review", views.ReviewView.as_view(), name="diff-review"),
    path("diffs/<uuid:diff_id>/commit", views.DiffCommitView.as_view(), name="diff-commit"),
    path(
        "diffs/<uuid:diff_id>/refine-message", views.RefineMessageView.as_view(), name="diff-refine"
    ),
    path("diffs/<uuid:diff_id>/graph", graph_views.DiffGraphView.as_view(), name="diff-graph"),
]
