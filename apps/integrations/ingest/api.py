from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import parsers, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.services import UsageEventsStored
from apps.integrations.ingest.request_body import MAX_BODY_BYTES, read_body
from apps.integrations.ingest.services import created_summary, event_batch_ingest
from apps.integrations.ingest.validation import MAX_EVENTS, batch_decode
from apps.integrations.models import ApiKey
from fullfield.users.models import User


class RawJsonParser(parsers.BaseParser):
    """Declares JSON for content negotiation and the schema; views read the raw bytes."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return stream.read() if stream is not None else b""


class EventSerializer(serializers.Serializer[Any]):
    """Documentation of one event; the endpoint validates with msgspec, not this class."""

    id = serializers.CharField(max_length=200, help_text="Your unique id: the idempotency key.")
    account_external_id = serializers.CharField(
        max_length=200, help_text="The account's id in your system (see source_system)."
    )
    contact_external_id = serializers.CharField(max_length=200, required=False, allow_null=True)
    name = serializers.CharField(max_length=200, help_text="e.g. report.exported")
    occurred_at = serializers.DateTimeField(
        help_text="ISO 8601 with a timezone offset; at most 1 hour in the future."
    )
    value = serializers.FloatField(required=False, default=1.0)
    properties = serializers.DictField(required=False)


class EventBatchSerializer(serializers.Serializer[Any]):
    events = EventSerializer(many=True, help_text=f"1 to {MAX_EVENTS:,} events.")
    source_system = serializers.CharField(
        max_length=40,
        required=False,
        default="api",
        help_text=(
            "The system whose ids account_external_id and contact_external_id are: accounts "
            "and contacts are matched on (source_system, external_id). Records imported from "
            'a CRM (the demo data among them) have "crm"; an id unknown under this source '
            "system creates a new account (listed in the response's created.accounts) unless "
            "the workspace refuses unknown accounts."
        ),
    )


class IngestErrorSerializer(serializers.Serializer[Any]):
    index = serializers.IntegerField(help_text="Position of the item in the request (from 0).")
    field = serializers.CharField(help_text="The field that is wrong; empty for the whole item.")
    message = serializers.CharField()


class CreatedSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField()
    external_ids = serializers.ListField(child=serializers.CharField())


class CreatedRecordsSerializer(serializers.Serializer[Any]):
    accounts = CreatedSerializer(
        help_text="Accounts this request created because no account of its source_system had "
        "the external id (a typo or a wrong source_system shows up here)."
    )
    contacts = CreatedSerializer(help_text="Contacts this request created.")


CONFLICTS_HELP = (
    "Events whose id was already stored with a different body: the first write won and this "
    "one was not stored."
)


class IngestResultSerializer(serializers.Serializer[Any]):
    job = serializers.IntegerField(help_text="The job recording this request (/api/v1/jobs/).")
    accepted = serializers.IntegerField(help_text="Events stored by this request.")
    duplicates = serializers.IntegerField(
        help_text="Events whose id was already stored with the same body."
    )
    conflicts = serializers.IntegerField(help_text=CONFLICTS_HELP)
    conflict_indexes = serializers.ListField(
        child=serializers.IntegerField(), help_text="The positions of the conflicting events."
    )
    rejected = serializers.IntegerField(help_text="Events refused; see errors.")
    # A declared field, so it does not shadow Serializer.errors at runtime (DRF pops it).
    errors = IngestErrorSerializer(many=True)  # type: ignore[assignment]
    created = CreatedRecordsSerializer()


def ingest_result(outcome: UsageEventsStored) -> dict[str, Any]:
    """The response fields every event-ingest endpoint shares beyond its own counts."""
    return {
        "conflicts": len(outcome.conflicts),
        "conflict_indexes": outcome.conflicts,
        "created": created_summary(
            accounts=outcome.accounts_created, contacts=outcome.contacts_created
        ),
    }


def request_user_id(request: Request) -> int | None:
    return request.user.pk if isinstance(request.user, User) else None


def request_api_key(request: Request) -> ApiKey | None:
    return request.auth if isinstance(request.auth, ApiKey) else None


class EventBatchApi(APIView):
    """Batch event ingest: each event is validated; the valid ones are stored exactly once.

    Accounts and contacts are matched on (source_system, external_id); the batch names its
    source_system, "api" by default, so events can point at records imported from a CRM.
    """

    parser_classes = [RawJsonParser]

    @extend_schema(
        operation_id="events_batch_create",
        request=EventBatchSerializer,
        responses={
            202: IngestResultSerializer,
            400: OpenApiResponse(description="The body as a whole is unusable."),
            413: OpenApiResponse(
                description=f"More than {MAX_EVENTS:,} events or {MAX_BODY_BYTES:,} bytes."
            ),
        },
        examples=[
            OpenApiExample(
                "One event",
                request_only=True,
                # The demo workspace's accounts and contacts come from source system "crm".
                value={
                    "source_system": "crm",
                    "events": [
                        {
                            "id": "evt_01HZX3",
                            "account_external_id": "acc-00001",
                            "contact_external_id": "con-00001-01",
                            "name": "report.exported",
                            "occurred_at": "2024-05-01T12:00:00Z",
                            "value": 1,
                            "properties": {"format": "pdf"},
                        }
                    ],
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        started_at = timezone.now()
        body = read_body(request._request)
        batch = batch_decode(body, now=started_at)
        result = event_batch_ingest(
            batch=batch,
            started_at=started_at,
            body_bytes=len(body),
            api_key=request_api_key(request),
            created_by_id=request_user_id(request),
        )
        outcome = result.outcome
        return Response(
            {
                "job": result.job.pk,
                "accepted": outcome.accepted,
                "duplicates": outcome.duplicates,
                "rejected": outcome.rejected,
                "errors": outcome.errors,
                **ingest_result(outcome),
            },
            status=status.HTTP_202_ACCEPTED,
        )
