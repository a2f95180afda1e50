"""The integration pages, under /integrations/ on a tenant's host."""

from django.urls import URLPattern, path

from apps.integrations import views

urlpatterns: list[URLPattern] = [
    path("", views.overview, name="integrations"),
    path("api-keys/", views.api_keys, name="integrations-api-keys"),
    path(
        "api-keys/<str:prefix>/revoke/",
        views.api_key_revoke_view,
        name="integrations-api-key-revoke",
    ),
    path("imports/", views.imports, name="integrations-imports"),
    path("imports/<int:job_id>/", views.import_detail, name="integrations-import"),
    path(
        "imports/<int:job_id>/rejected.csv",
        views.import_rejected_rows,
        name="integrations-import-rejected",
    ),
    path("stripe/", views.stripe, name="integrations-stripe"),
    path("stripe/disconnect/", views.stripe_disconnect, name="integrations-stripe-disconnect"),
    path("webhooks/", views.webhooks, name="integrations-webhooks"),
    path("webhooks/<int:endpoint_id>/", views.webhook_detail, name="integrations-webhook"),
    path(
        "webhooks/<int:endpoint_id>/<str:action>/",
        views.webhook_action,
        name="integrations-webhook-action",
    ),
    path("jobs/", views.jobs, name="integrations-jobs"),
]
