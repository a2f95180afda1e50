"""The job log: every ingest, import and webhook job with its counts, errors and timing."""

from __future__ import annotations

from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.integrations.imports.lease import (
    csv_import_lease_held,
    csv_import_leases_held,
    is_stalled,
)
from apps.integrations.ingest.api import CreatedRecordsSerializer
from apps.integrations.ingest.services import created_summary
from apps.integrations.jobs.selectors import job_get, job_list
from apps.integrations.models import Job
from fullfield.api.pagination import CursorPagination


class JobProgressSerializer(serializers.Serializer[Any]):
    processed = serializers.IntegerField()
    total = serializers.IntegerField()
    percent = serializers.FloatField(allow_null=True, help_text="Null while the total is unknown.")


class JobErrorSerializer(serializers.Serializer[Any]):
    """Documentation of one stored error; the API returns them as the job stored them."""

    index = serializers.IntegerField(required=False, help_text="Item position (API ingest).")
    row = serializers.IntegerField(required=False, help_text="Row number (CSV imports).")
    field = serializers.CharField(required=False, help_text="The field or column; may be empty.")
    message = serializers.CharField()


JOB_API_STATUSES = [
    *Job.Status.choices,
    ("stalled", "Running, but its worker stopped; it will be resumed"),
]


class JobSerializer(serializers.ModelSerializer[Job]):
    status = serializers.SerializerMethodField(
        help_text=(
            "queued, running, succeeded, partial (some records rejected), failed, or stalled: "
            "an import whose worker stopped, until another worker resumes it (within minutes)."
        )
    )
    progress = serializers.SerializerMethodField()
    duration_seconds = serializers.SerializerMethodField(
        help_text="From start to finish, or until now while running; null before it starts."
    )
    api_key = serializers.SerializerMethodField(help_text="The prefix of the key that ran it.")
    created_by = serializers.SerializerMethodField(help_text="The user who ran it (email).")
    # A declared field, so it does not shadow Serializer.errors at runtime (DRF pops it).
    errors = serializers.SerializerMethodField(help_text="The first errors.")  # type: ignore[assignment]
    conflict_indexes = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Positions of events whose id was already stored with another body "
        "(the first 100).",
    )
    created_records = serializers.SerializerMethodField(
        help_text="Accounts and contacts the job created (the first 100 external ids)."
    )
    rejected_rows_url = serializers.SerializerMethodField(
        help_text="A CSV of the rejected rows with row, column and message (imports only)."
    )

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
            "conflicts",
            "conflict_indexes",
            "rejected",
            "created_records",
            "progress",
            "errors",
            "rejected_rows_url",
            "parameters",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "api_key",
            "created_by",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=JOB_API_STATUSES))
    def get_status(self, job: Job) -> str:
        if job.kind == Job.Kind.CSV_IMPORT and job.status == Job.Status.RUNNING:
            leased = self.context.get("leased_jobs")
            held = job.pk in leased if leased is not None else csv_import_lease_held(job_id=job.pk)
            if is_stalled(job, leased=held):
                return "stalled"
        return str(job.status)

    @extend_schema_field(JobProgressSerializer)
    def get_progress(self, job: Job) -> dict[str, Any]:
        percent = round(100 * job.processed / job.total, 1) if job.total else None
        return {"processed": job.processed, "total": job.total, "percent": percent}

    @extend_schema_field(JobErrorSerializer(many=True))
    def get_errors(self, job: Job) -> list[dict[str, Any]]:
        return list(job.errors)

    @extend_schema_field(CreatedRecordsSerializer)
    def get_created_records(self, job: Job) -> dict[str, Any]:
        # Jobs that create no records through the event writer (imports, webhooks) say none.
        return created_summary(accounts=[], contacts=[]) | dict(job.created_records)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_rejected_rows_url(self, job: Job) -> str | None:
        if not job.rejected_rows:
            return None
        try:
            path = reverse("import-rejected-rows", kwargs={"job_id": job.pk})
        except NoReverseMatch:
            return None
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_duration_seconds(self, job: Job) -> float | None:
        if job.started_at is None:
            return None
        end = job.finished_at or timezone.now()
        return round((end - job.started_at).total_seconds(), 3)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_api_key(self, job: Job) -> str | None:
        return job.api_key.prefix if job.api_key else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_created_by(self, job: Job) -> str | None:
        return job.created_by.email if job.created_by else None


class JobListQuerySerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=Job.Kind.choices, required=False)
    status = serializers.ChoiceField(choices=Job.Status.choices, required=False)


class JobListApi(APIView):
    pagination_class = CursorPagination  # declares the list paginated in the schema

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
        running = [
            job.pk
            for job in page or []
            if job.kind == Job.Kind.CSV_IMPORT and job.status == Job.Status.RUNNING
        ]
        leased = csv_import_leases_held(job_ids=running) if running else set()
        context = {"request": request, "leased_jobs": leased}
        serializer = JobSerializer(page, many=True, context=context)
        return paginator.get_paginated_response(serializer.data)


class JobDetailApi(APIView):
    @extend_schema(operation_id="jobs_retrieve", responses=JobSerializer)
    def get(self, request: Request, job_id: int) -> Response:
        job = job_get(job_id=job_id)
        return Response(JobSerializer(job, context={"request": request}).data)
