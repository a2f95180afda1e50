from django.urls import URLPattern, URLResolver, path

from apps.integrations.webhooks import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("event-types/", api.WebhookEventTypeListApi.as_view(), name="webhook-event-types"),
    path("endpoints/", api.WebhookEndpointListCreateApi.as_view(), name="webhook-endpoints"),
    path(
        "endpoints/<int:endpoint_id>/",
        api.WebhookEndpointDetailApi.as_view(),
        name="webhook-endpoint",
    ),
    path(
        "endpoints/<int:endpoint_id>/test/",
        api.WebhookEndpointTestApi.as_view(),
        name="webhook-endpoint-test",
    ),
    path(
        "endpoints/<int:endpoint_id>/deliveries/",
        api.WebhookDeliveryListApi.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "endpoints/<int:endpoint_id>/deliveries/<int:delivery_id>/",
        api.WebhookDeliveryDetailApi.as_view(),
        name="webhook-delivery",
    ),
]
