from django.urls import include, path

from apps.integrations import api

urlpatterns = [
    path("api-keys/", api.ApiKeyListCreateApi.as_view(), name="api-keys"),
    path("api-keys/<str:key_id>/revoke/", api.ApiKeyRevokeApi.as_view(), name="api-key-revoke"),
    path("events/", include("apps.integrations.ingest.urls")),
    path("segment/v1/", include("apps.integrations.segment.urls")),
    path("stripe/", include("apps.integrations.stripe.urls")),
    path("imports/", include("apps.integrations.imports.urls")),
    path("jobs/", include("apps.integrations.jobs.urls")),
    path("webhooks/", include("apps.integrations.webhooks.urls")),
]
