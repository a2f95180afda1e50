from django.urls import path

from apps.integrations import api

urlpatterns = [
    path("api-keys/", api.ApiKeyListCreateApi.as_view(), name="api-keys"),
    path("api-keys/<str:key_id>/revoke/", api.ApiKeyRevokeApi.as_view(), name="api-key-revoke"),
]
