"""The job log: every ingest, import and webhook job with its counts, errors and timing."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.integrations.jobs.selectors import job_get, job_list
from apps.integrations.models import Job
from fullfield.api.pagination import CursorPagination


class JobProgressSerializer(serializers.Serializer[Any]):
    processed = serializers.IntegerField()
    total = serializers.IntegerField()
    percent = serializers.FloatField(allow_null=True, help_text="Null while the total is unknown.")


class JobErrorSerializer(serializers.Serializer[Any]):
    index = serializers.IntegerField(required=False, help_text="Item position (API ingest).")
    row = serializers.IntegerField(required=False, help_text="Row number (CSV imports).")
    field = serializers.CharField(required=False)
    message = serializers.CharField()


class JobSerializer(serializers.ModelSerializer[Job]):
    progress = serializers.SerializerMethodField()
    duration_seconds = serializers.SerializerMethodField(
        help_text="From start to finish, or until now while running; null before it starts."
    )
    api_key = serializers.SerializerMethodField(help_text="The prefix of the key that ran it.")
    created_by = serializers.SerializerMethodField(help_text="The user who ran it (email).")
    # A declared field, so it does not shadow Serializer.errors at runtime (DRF pops it).
    errors = JobErrorSerializer(many=True, read_only=True, help_text="The first errors.")  # type: ignore[assignment]

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "status",
            "total",
            "processed",
            "accepted",
            "duplicates",
            "rejected",
            "progress",
            "errors",
            "parameters",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "api_key",
            "created_by",
        ]
        read_only_fields = fields

    @extend_schema_field(JobProgressSerializer)
    def get_progress(self, job: Job) -> dict[str, Any]:
        percent = round(100 * job.processed / job.total, 1) if job.total else None
        return {"processed": job.processed, "total": job.total, "percent": percent}

    @extend_schema_field(OpenApiTypes.DOUBLE)
    def get_duration_seconds(self, job: Job) -> float | None:
        if job.started_at is None:
            return None
        end = job.finished_at or timezone.now()
        return round((end - job.started_at).total_seconds(), 3)

    @extend_schema_field(OpenApiTypes.STR)
    def get_api_key(self, job: Job) -> str | None:
        return job.api_key.prefix if job.api_key else None

    @extend_schema_field(OpenApiTypes.STR)
    def get_created_by(self, job: Job) -> str | None:
        return job.created_by.email if job.created_by else None


class JobListQuerySerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=Job.Kind.choices, required=False)
    status = serializers.ChoiceField(choices=Job.Status.choices, required=False)


class JobListApi(APIView):
    @extend_schema(
        operation_id="jobs_list",
        parameters=[JobListQuerySerializer],
        responses=JobSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        query = JobListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        paginator = CursorPagination()
        page = paginator.paginate_queryset(job_list(**query.validated_data), request, view=self)
        return paginator.get_paginated_response(JobSerializer(page, many=True).data)


class JobDetailApi(APIView):
    @extend_schema(operation_id="jobs_retrieve", responses=JobSerializer)
    def get(self, request: Request, job_id: int) -> Response:
        return Response(JobSerializer(job_get(job_id=job_id)).data)
