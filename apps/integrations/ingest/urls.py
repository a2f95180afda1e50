from django.urls import path

from apps.integrations.ingest import api

urlpatterns = [
    path("batch/", api.EventBatchApi.as_view(), name="events-batch"),
]
