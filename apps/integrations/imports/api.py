"""CSV import endpoints: upload (202 + a queued job), the import's job, its rejected rows."""

from __future__ import annotations

from typing import Any

import orjson
from django.core.files.storage import default_storage
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import parsers, renderers, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.integrations.imports.columns import ENTITIES
from apps.integrations.imports.selectors import csv_import_get, csv_import_rejected_rows_name
from apps.integrations.imports.services import MAX_UPLOAD_BYTES, csv_import_create
from apps.integrations.ingest.api import request_api_key, request_user_id
from apps.integrations.jobs.api import JobSerializer
from apps.integrations.models import Job


class CsvImportCreateSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(
        allow_empty_file=True,  # the service says so, in the same words as other file problems
        help_text=f"A UTF-8 CSV file with a header row; at most {MAX_UPLOAD_BYTES:,} bytes.",
    )
    entity = serializers.ChoiceField(choices=ENTITIES, help_text="What the rows are.")
    mapping = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text=(
            'A JSON object {"our_field": "their column header"}. Without it, the headers must '
            "be our field names. With it, unmapped columns named like our fields are read too "
            "and other columns are ignored (listed in the job's parameters.ignored_columns)."
        ),
    )
    dry_run = serializers.BooleanField(
        default=False,
        help_text="Validate every row and count what would happen, writing nothing.",
    )
    source_system = serializers.CharField(
        required=False,
        max_length=40,
        help_text=(
            "The system the file's external ids come from (default: api). A source_system "
            "column, where the entity has one, overrides it per row."
        ),
    )

    def validate_mapping(self, value: str) -> dict[str, str] | None:
        if not value.strip():
            return None
        try:
            mapping = orjson.loads(value)
        except orjson.JSONDecodeError:
            mapping = None
        if not isinstance(mapping, dict) or not all(
            isinstance(header, str) for header in mapping.values()
        ):
            raise serializers.ValidationError(
                'Must be a JSON object of strings: {"our_field": "their column header"}.'
            )
        return mapping


class CsvImportSerializer(JobSerializer):
    rejected_rows_url = serializers.SerializerMethodField(
        help_text="Where the rejected rows can be downloaded once the import has finished."
    )

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "rejected_rows_url"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_rejected_rows_url(self, job: Job) -> str:
        return f"/api/v1/imports/{job.pk}/rejected.csv"


class CsvImportCreateApi(APIView):
    """Upload a CSV file: checked at once, imported by a background job."""

    parser_classes = [parsers.MultiPartParser, parsers.FormParser]

    @extend_schema(
        operation_id="imports_create",
        request={"multipart/form-data": CsvImportCreateSerializer},
        responses={
            202: CsvImportSerializer,
            400: OpenApiResponse(
                description="Unknown entity or field, missing column, empty or non-UTF-8 file."
            ),
            413: OpenApiResponse(description=f"A file over {MAX_UPLOAD_BYTES:,} bytes."),
        },
        description=(
            "Follow the job at /api/v1/jobs/{id}/ (progress: rows done / total). For records, "
            "`accepted` counts records created and `duplicates` rows that matched an existing "
            "record by source_system and external_id (updated in place); for events, "
            "`duplicates` counts events whose id was already stored. The job's "
            "parameters.result.summary says what happened in words."
        ),
    )
    def post(self, request: Request) -> Response:
        payload = CsvImportCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        job = csv_import_create(
            upload=data["file"],
            entity=data["entity"],
            mapping=data.get("mapping"),
            dry_run=data["dry_run"],
            source_system=data.get("source_system"),
            api_key=request_api_key(request),
            created_by_id=request_user_id(request),
        )
        return Response(CsvImportSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class CsvImportDetailApi(APIView):
    @extend_schema(operation_id="imports_retrieve", responses=CsvImportSerializer)
    def get(self, request: Request, job_id: int) -> Response:
        return Response(CsvImportSerializer(csv_import_get(job_id=job_id)).data)


class CsvRenderer(renderers.BaseRenderer):
    """Lets clients ask for text/csv; the view answers with the stored file itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Any = None,
    ) -> bytes:
        # Only error bodies come through here (the file is streamed as it is).
        return orjson.dumps(data)


class CsvImportRejectedRowsApi(APIView):
    renderer_classes = [renderers.JSONRenderer, CsvRenderer]

    @extend_schema(
        operation_id="imports_rejected_rows",
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description=(
                    "UTF-8 CSV: row (as numbered in the file, 1 = header), column, message, "
                    "then the row's original cells; one line per problem. Cells that begin "
                    "with = + - @, a tab or a carriage return are prefixed with '."
                ),
            ),
            404: OpenApiResponse(description="No such import in this workspace."),
            409: OpenApiResponse(description="The import has not finished yet."),
        },
    )
    def get(self, request: Request, job_id: int) -> FileResponse:
        name = csv_import_rejected_rows_name(job_id=job_id)
        return FileResponse(
            default_storage.open(name, "rb"),
            as_attachment=True,
            filename=f"import-{job_id}-rejected-rows.csv",
            content_type="text/csv; charset=utf-8",
        )
