"""Segment's HTTP tracking API at /api/v1/segment/v1/: point a Segment library's `host` here.

Segment's libraries post to `{host}/v1/batch` (no trailing slash), so with
host = https://<tenant host>/api/v1/segment they land on the batch view below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.integrations.authentication import ApiKeyAuthentication
from apps.integrations.ingest.api import (
    CONFLICTS_HELP,
    CreatedRecordsSerializer,
    IngestErrorSerializer,
    RawJsonParser,
    ingest_result,
    request_api_key,
    request_user_id,
)
from apps.integrations.ingest.request_body import PayloadTooLarge, read_body
from apps.integrations.ingest.validation import MAX_EVENTS, json_document
from apps.integrations.segment import schema  # noqa: F401  (registers the OpenAPI auth scheme)
from apps.integrations.segment.authentication import SegmentWriteKeyAuthentication
from apps.integrations.segment.services import segment_messages_ingest
from fullfield.errors import DomainError


class SegmentMessageSerializer(serializers.Serializer[Any]):
    """Documentation only: Segment's common fields (see Segment's HTTP tracking API spec)."""

    type = serializers.ChoiceField(
        choices=["identify", "group", "track", "page", "screen"],
        required=False,
        help_text="Required in a batch; implied by the endpoint otherwise.",
    )
    messageId = serializers.CharField(required=False, help_text="The deduplication key.")
    userId = serializers.CharField(required=False, help_text="-> the contact's external id.")
    anonymousId = serializers.CharField(required=False)
    groupId = serializers.CharField(required=False, help_text="group: the account's external id.")
    event = serializers.CharField(required=False, help_text="track: the event name.")
    name = serializers.CharField(required=False)
    timestamp = serializers.DateTimeField(required=False)
    traits = serializers.DictField(required=False)
    properties = serializers.DictField(required=False)
    context = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="context.groupId names the account of identify/track/page."
    )


class SegmentBatchSerializer(serializers.Serializer[Any]):
    batch = SegmentMessageSerializer(many=True)
    context = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="Merged into every message."
    )


class SegmentResultSerializer(serializers.Serializer[Any]):
    success = serializers.BooleanField(help_text="True when no message was rejected.")
    job = serializers.IntegerField()
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    conflicts = serializers.IntegerField(help_text=CONFLICTS_HELP)
    conflict_indexes = serializers.ListField(child=serializers.IntegerField())
    rejected = serializers.IntegerField()
    errors = IngestErrorSerializer(many=True)  # type: ignore[assignment]
    created = CreatedRecordsSerializer(
        help_text="Accounts and contacts created by track, page and screen calls naming "
        "unknown ones (group and identify calls create or update them as asked)."
    )


class SegmentApi(APIView):
    authentication_classes = [SegmentWriteKeyAuthentication, ApiKeyAuthentication]
    parser_classes = [RawJsonParser]
    kind: ClassVar[str | None] = None

    def post(self, request: Request) -> Response:
        started_at = timezone.now()
        body = read_body(request._request)
        document = json_document(body)
        if not isinstance(document, dict):
            raise DomainError("The body must be a JSON object.")
        messages, shared_context = self.messages_of(document)
        result = segment_messages_ingest(
            messages=messages,
            kind=self.kind,
            shared_context=shared_context,
            started_at=started_at,
            endpoint=self.kind or "batch",
            body_bytes=len(body),
            api_key=request_api_key(request),
            created_by_id=request_user_id(request),
        )
        outcome = result.outcome
        return Response(
            {
                "success": outcome.rejected == 0,
                "job": result.job.pk,
                "accepted": outcome.accepted,
                "duplicates": outcome.duplicates,
                "rejected": outcome.rejected,
                "errors": outcome.errors,
                **ingest_result(outcome.events),
            },
            status=status.HTTP_200_OK,
        )

    def messages_of(self, document: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        return [document], {}


_View = TypeVar("_View", bound=Callable[..., Any])


def _documented(kind: str, request: type[serializers.Serializer[Any]]) -> Callable[[_View], _View]:
    return extend_schema(
        operation_id=f"segment_{kind}",
        request=request,
        responses={
            200: SegmentResultSerializer,
            400: OpenApiResponse(description="The body as a whole is unusable."),
            413: OpenApiResponse(description="The body or the batch is over the limit."),
        },
        summary=f"Segment {kind} call",
        tags=["segment"],
    )


class SegmentBatchApi(SegmentApi):
    @_documented("batch", SegmentBatchSerializer)
    def post(self, request: Request) -> Response:
        return super().post(request)

    def messages_of(self, document: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        messages = document.get("batch")
        if not isinstance(messages, list) or not messages:
            raise DomainError(
                "The batch could not be read.",
                fields={"batch": ["Required: a non-empty list of messages."]},
            )
        if len(messages) > MAX_EVENTS:
            raise PayloadTooLarge(
                f"The batch has {len(messages):,} messages; the limit is {MAX_EVENTS:,} "
                "messages a request."
            )
        context = document.get("context")
        return messages, context if isinstance(context, dict) else {}


class SegmentTrackApi(SegmentApi):
    kind = "track"

    @_documented("track", SegmentMessageSerializer)
    def post(self, request: Request) -> Response:
        return super().post(request)


class SegmentIdentifyApi(SegmentApi):
    kind = "identify"

    @_documented("identify", SegmentMessageSerializer)
    def post(self, request: Request) -> Response:
        return super().post(request)


class SegmentGroupApi(SegmentApi):
    kind = "group"

    @_documented("group", SegmentMessageSerializer)
    def post(self, request: Request) -> Response:
        return super().post(request)


class SegmentPageApi(SegmentApi):
    kind = "page"

    @_documented("page", SegmentMessageSerializer)
    def post(self, request: Request) -> Response:
        return super().post(request)


class SegmentScreenApi(SegmentApi):
    kind = "screen"

    @_documented("screen", SegmentMessageSerializer)
    def post(self, request: Request) -> Response:
        return super().post(request)
