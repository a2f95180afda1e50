from django.urls import path

from apps.integrations.jobs import api

urlpatterns = [
    path("", api.JobListApi.as_view(), name="jobs"),
    path("<int:job_id>/", api.JobDetailApi.as_view(), name="job-detail"),
]
