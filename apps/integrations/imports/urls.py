from django.urls import URLPattern, URLResolver, path

from apps.integrations.imports import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("", api.CsvImportCreateApi.as_view(), name="imports"),
    path("<int:job_id>/", api.CsvImportDetailApi.as_view(), name="import-detail"),
    path(
        "<int:job_id>/rejected.csv",
        api.CsvImportRejectedRowsApi.as_view(),
        name="import-rejected-rows",
    ),
]
