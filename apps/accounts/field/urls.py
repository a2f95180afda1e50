from django.urls import path

from apps.accounts.field.api import FieldMetricsApi

urlpatterns = [
    path("field/", FieldMetricsApi.as_view(), name="field-metrics"),
]
