"""The API URLs whose views start runs or call models (agents_app/views.py)."""

from django.urls import path

from agents_app import views

urlpatterns = [
    path(
        "sessions/<uuid:session_id>/messages",
        views.SessionMessagesView.as_view(),
        name="session-messages",
    ),
    path(
        "sessions/<uuid:session_id>/cancel",
        views.CancelRunView.as_view(),
        name="session-cancel",
    ),
    path("diffs/<uuid:diff_id>/review", views.ReviewView.as_view(), name="diff-review"),
    path(
        "diffs/<uuid:diff_id>/refine-message", views.RefineMessageView.as_view(), name="diff-refine"
    ),
]
