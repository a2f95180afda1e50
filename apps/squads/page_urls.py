"""The squads pages on a tenant's host: queue triage under /queues/, squads under /squads/."""

from django.urls import URLPattern, path

from apps.squads import views

queue_urlpatterns: list[URLPattern] = [
    path("", views.triage, name="triage"),
    path("act/", views.triage_action, name="triage-action"),
]

squad_urlpatterns: list[URLPattern] = [
    path("", views.squad_list, name="squads-page"),
    path("<int:squad_id>/", views.squad_detail, name="squad-page"),
    path("<int:squad_id>/cycles/", views.cycle_create, name="squad-page-cycle-create"),
    path(
        "<int:squad_id>/cycles/<int:cycle_id>/close/",
        views.cycle_close,
        name="squad-page-cycle-close",
    ),
    path("<int:squad_id>/replicate/", views.squad_replicate, name="squad-page-replicate"),
]
