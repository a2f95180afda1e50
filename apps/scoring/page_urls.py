"""The scoring settings pages, under /settings/scoring/ on a tenant's host."""

from django.urls import URLPattern, path

from apps.scoring import views

urlpatterns: list[URLPattern] = [
    path("", views.scoring_settings, name="scoring-settings"),
    path("profiles/<int:profile_id>/", views.profile_edit, name="scoring-profile"),
    path(
        "profiles/<int:profile_id>/preview/", views.profile_preview, name="scoring-profile-preview"
    ),
    path("calibration/", views.calibration_start, name="scoring-calibration-start"),
    path(
        "calibration/runs/<int:run_id>/",
        views.calibration_run_status,
        name="scoring-calibration-run",
    ),
    path(
        "calibration/<int:calibration_id>/accept/",
        views.calibration_accept_view,
        name="scoring-calibration-accept",
    ),
]
