from django.urls import path

from trials import views

urlpatterns = [
    path(
        "projects/<uuid:project_id>/trials",
        views.ProjectTrialsView.as_view(),
        name="project-trials",
    ),
    path("trials/<uuid:trial_id>", views.TrialView.as_view(), name="trial"),
    path("trials/<uuid:trial_id>/cancel", views.TrialCancelView.as_view(), name="trial-cancel"),
]
