from django.urls import path

from cases import views

urlpatterns = [
    path(
        "projects/<uuid:project_id>/cases", views.ProjectCasesView.as_view(), name="project-cases"
    ),
    path("cases/<uuid:case_id>", views.CaseView.as_view(), name="case"),
    path("cases/<uuid:case_id>/run", views.CaseRunView.as_view(), name="case-run"),
    path("diffs/<uuid:diff_id>/cases", views.DiffCasesView.as_view(), name="diff-cases"),
    path("diffs/<uuid:diff_id>/cases/run", views.DiffCasesRunView.as_view(), name="diff-cases-run"),
]
