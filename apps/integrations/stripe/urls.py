from django.urls import URLPattern, URLResolver, path

from apps.integrations.stripe import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("connection/", api.StripeConnectionApi.as_view(), name="stripe-connection"),
    path("webhook/", api.StripeWebhookApi.as_view(), name="stripe-webhook"),
]
