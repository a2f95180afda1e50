"""The play pages, under /plays/ on a tenant's host."""

from django.urls import URLPattern, path

from apps.squads import views_plays as views

urlpatterns: list[URLPattern] = [
    path("", views.play_list, name="plays-list"),
    path("new/", views.play_new, name="plays-new"),
    path("trigger-fields/", views.play_trigger_fields, name="plays-trigger-fields"),
    path("<int:play_id>/", views.play_detail, name="plays-detail"),
    path("<int:play_id>/edit/", views.play_edit, name="plays-edit"),
    path("<int:play_id>/preview/", views.play_preview, name="plays-preview"),
    path("<int:play_id>/dry-run/", views.play_dry_run, name="plays-dry-run"),
    path("<int:play_id>/status/", views.play_switch, name="plays-switch"),
]
