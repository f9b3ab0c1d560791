from django.urls import path

from sessions_app import views

urlpatterns = [
    path(
        "projects/<uuid:project_id>/sessions",
        views.ProjectSessionsView.as_view(),
        name="project-sessions",
    ),
    path(
        "projects/<uuid:project_id>/usage", views.ProjectUsageView.as_view(), name="project-usage"
    ),
    path(
        "projects/<uuid:project_id>/events/<uuid:event_id>",
        views.EventBodyView.as_view(),
        name="project-event-body",
    ),
    path("sessions/<uuid:session_id>", views.SessionView.as_view(), name="session-detail"),
    path(
        "sessions/<uuid:session_id>/usage", views.SessionUsageView.as_view(), name="session-usage"
    ),
    path("messages/<uuid:message_id>/full", views.FullResponseView.as_view(), name="message-full"),
]
