"""REST endpoints of the account record: thin views over the services and selectors."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from apps.accounts import filters, selectors
from apps.accounts.api import serializers as record_serializers
from apps.accounts.api.base import GenericViewSet, RecordViewSet, with_article
from apps.accounts.api.pagination import KeysetCursorPagination
from apps.accounts.models import (
    Account,
    Contact,
    Lead,
    Milestone,
    OnboardingPlan,
    Opportunity,
    Subscription,
    SurveyResponse,
    Ticket,
    Touchpoint,
)
from apps.accounts.services import (
    BULK_MAX_ITEMS,
    account_create,
    account_delete,
    account_update,
    onboarding_plan_create,
    record_create,
    records_upsert_many,
    usage_event_record,
)
from fullfield.api.pagination import CursorPagination
from fullfield.users.models import User

# Ids are bigints: anything longer is no id at all (404), not a database error.
ID_PATTERN = "[0-9]{1,18}"

LIST_NOTES = (
    "Filter with the query parameters below, search with `?search=`, sort with `?ordering=`; "
    "pages are cursor-based (follow `next`)."
)


def documented(noun: str, plural: str, *actions: str, notes: str = "") -> Callable[[Any], Any]:
    """Summaries and descriptions of a record resource's standard operations."""
    a_noun = with_article(noun)
    texts = {
        "list": (f"List {plural}", LIST_NOTES),
        "retrieve": (f"Get {a_noun}", ""),
        "create": (
            f"Create {a_noun}",
            "Unknown or read-only fields are refused (400 naming the field). "
            "Related records are given by id and must exist in this workspace.",
        ),
        "update": (f"Replace {a_noun}", "Every writable field; unknown ones are refused."),
        "partial_update": (f"Update {a_noun}", "Only the fields sent change."),
        "destroy": (f"Delete {a_noun}", ""),
    }
    schemas = {}
    for name in actions:
        summary, description = texts[name]
        if notes and name != "list":
            description = f"{description} {notes}".strip()
        schemas[name] = extend_schema(summary=summary, description=description)
    return extend_schema_view(**schemas)


ALL_ACTIONS = ("list", "retrieve", "create", "update", "partial_update", "destroy")


def bulk_upsert_action(entity: str, plural: str) -> Any:
    """POST <resource>/bulk/: create or update up to 5,000 records by external id."""

    @extend_schema(
        summary=f"Create or update {plural} by external id",
        description=(
            f"Each item is matched by (source_system, external_id): a new one is created, a "
            "known one updated (only the fields the item names). One result per item, in "
            "order: created, updated or error with messages per field. A bad item never "
            "fails the others and is not written at all. The same external id twice in one "
            "request: the first is processed, later ones are errors. Related accounts are named "
            "by `account_id` or `account_external_id` (looked up in `account_source_system`, "
            "default: the item's source system). "
            f"At most {BULK_MAX_ITEMS} items."
        ),
        request=record_serializers.BULK_REQUEST_SERIALIZERS[entity],
        responses={200: record_serializers.BulkResponseSerializer},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="bulk",
        filter_backends=[],
        pagination_class=None,
    )
    def bulk(self: Any, request: Request) -> Response:
        payload = record_serializers.BulkRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        results = records_upsert_many(entity=entity, items=payload.validated_data["items"])
        counts = Counter(result.status for result in results)
        body = {
            "results": [
                {"index": r.index, "status": r.status, "id": r.id, "errors": r.errors}
                for r in results
            ],
            "summary": {name: counts.get(name, 0) for name in ("created", "updated", "error")},
        }
        return Response(body)

    return bulk


# --- accounts --------------------------------------------------------------------------


@documented(
    "account",
    "accounts",
    *ALL_ACTIONS,
    notes="Deleting is refused (409) while the account has subscription terms, because "
    "reported revenue would change; mark it churned instead.",
)
class AccountViewSet(RecordViewSet):
    model = Account
    queryset = selectors.account_list()
    serializer_class = record_serializers.AccountSerializer
    filterset_class = filters.AccountFilter
    search_fields = ["name", "domain", "external_id"]
    ordering_fields = (
        "name",
        "created_at",
        "updated_at",
        "segment",
        "lifecycle_stage",
        "health_score",
        "health_trend",
    )
    lookup_value_regex = ID_PATTERN

    def perform_create(self, serializer: serializers.BaseSerializer[Any]) -> None:
        serializer.instance = account_create(data=serializer.validated_data)

    def perform_update(self, serializer: serializers.BaseSerializer[Any]) -> None:
        assert isinstance(serializer.instance, Account)
        serializer.instance = account_update(
            account=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance: models.Model) -> None:
        assert isinstance(instance, Account)
        account_delete(account=instance)

    bulk = bulk_upsert_action("accounts", "accounts")

    @extend_schema(
        summary="An account's timeline",
        description=(
            "Every dated record of the account, newest first: opportunities (by close date), "
            "subscription terms (by start), onboarding plans and milestones (completed, else "
            "due), usage events, tickets (opened), survey responses, touchpoints and the leads "
            "converted into it. Dates are placed at 00:00 UTC. Follow `next` for older entries."
        ),
        parameters=[
            OpenApiParameter("cursor", OpenApiTypes.STR, description="From a `next` link."),
            OpenApiParameter(
                "page_size", OpenApiTypes.INT, description="Entries per page (default 50)."
            ),
            OpenApiParameter(
                "kind",
                OpenApiTypes.STR,
                many=True,
                explode=False,
                enum=list(selectors.TIMELINE_KINDS),
                description="Only these kinds (comma-separated).",
            ),
        ],
        responses={200: record_serializers.TimelinePageSerializer},
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def timeline(self, request: Request, pk: str) -> Response:
        account = self.get_object()
        kinds = self._timeline_kinds(request)
        cursor = request.query_params.get("cursor")
        page = selectors.account_timeline(
            account_id=account.pk,
            page_size=CursorPagination().get_page_size(request) or settings.API_PAGE_SIZE,
            after=selectors.TimelinePosition.decode(cursor) if cursor else None,
            kinds=kinds,
        )
        next_link = (
            replace_query_param(request.build_absolute_uri(), "cursor", page.next.encode())
            if page.next
            else None
        )
        entries = record_serializers.TimelineEntrySerializer(page.entries, many=True).data
        return Response({"next": next_link, "results": entries})

    @staticmethod
    def _timeline_kinds(request: Request) -> frozenset[str] | None:
        raw = [part for value in request.query_params.getlist("kind") for part in value.split(",")]
        kinds = frozenset(part.strip() for part in raw if part.strip())
        unknown = kinds - set(selectors.TIMELINE_KINDS)
        if unknown:
            raise serializers.ValidationError(
                {
                    "kind": [
                        f"Unknown kind {sorted(unknown)[0]!r}; one of: "
                        + ", ".join(selectors.TIMELINE_KINDS)
                    ]
                }
            )
        return kinds or None

    @extend_schema(
        summary="An account's 360 view",
        description=(
            "The account with its front-of-field and back-of-field summaries in one call: open "
            "pipeline, last won deal, onboarding progress of the latest plan, usage in the last "
            "30 days vs the 30 before, open tickets by priority, the latest survey score of each "
            "kind, current MRR (terms active or past due with period_start <= today < "
            "period_end), next renewal (the earliest period_end of those terms) and the child "
            "accounts. Days and windows are in UTC."
        ),
        responses={200: record_serializers.Account360Serializer},
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="360",
        url_name="360",
        filter_backends=[],
        pagination_class=None,
    )
    def overview(self, request: Request, pk: str) -> Response:
        account = self.get_object()
        view = selectors.account_360(account_id=account.pk)
        body = {
            "account": view.account,
            "children": view.children,
            "children_count": view.children_count,
            "pipeline": view.pipeline,
            "last_won_deal": view.last_won_deal,
            "onboarding": view.onboarding,
            "usage": view.usage,
            "open_tickets": view.open_tickets,
            "last_surveys": view.last_surveys,
            "revenue": view.revenue,
        }
        return Response(
            record_serializers.Account360Serializer(
                body, context=self.get_serializer_context()
            ).data
        )


# --- records of an account -----------------------------------------------------------------


@documented("contact", "contacts", *ALL_ACTIONS)
class ContactViewSet(RecordViewSet):
    model = Contact
    queryset = selectors.contact_list()
    serializer_class = record_serializers.ContactSerializer
    filterset_class = filters.ContactFilter
    search_fields = ["name", "email", "title"]
    ordering_fields = ("name", "email", "created_at", "updated_at")
    lookup_value_regex = ID_PATTERN

    bulk = bulk_upsert_action("contacts", "contacts")


@documented("lead", "leads", *ALL_ACTIONS)
class LeadViewSet(RecordViewSet):
    model = Lead
    queryset = selectors.lead_list()
    serializer_class = record_serializers.LeadSerializer
    filterset_class = filters.LeadFilter
    search_fields = ["name", "email", "company", "campaign"]
    ordering_fields = ("name", "created_at", "updated_at", "converted_at", "status")
    lookup_value_regex = ID_PATTERN

    bulk = bulk_upsert_action("leads", "leads")


@documented("opportunity", "opportunities", *ALL_ACTIONS)
class OpportunityViewSet(RecordViewSet):
    model = Opportunity
    queryset = selectors.opportunity_list()
    serializer_class = record_serializers.OpportunitySerializer
    filterset_class = filters.OpportunityFilter
    search_fields = ["name", "stage", "account__name"]
    ordering_fields = ("close_date", "amount", "name", "created_at", "updated_at")
    lookup_value_regex = ID_PATTERN

    bulk = bulk_upsert_action("opportunities", "opportunities")


@documented(
    "onboarding plan",
    "onboarding plans",
    *ALL_ACTIONS,
    notes="Milestones can be sent when the plan is created; afterwards they are changed at "
    "/api/v1/milestones/.",
)
class OnboardingPlanViewSet(RecordViewSet):
    model = OnboardingPlan
    queryset = selectors.onboarding_plan_list()
    serializer_class = record_serializers.OnboardingPlanSerializer
    filterset_class = filters.OnboardingPlanFilter
    search_fields = ["name"]
    ordering_fields = ("started_on", "target_live_on", "completed_on", "created_at")
    lookup_value_regex = ID_PATTERN

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        if self.action == "create":
            return record_serializers.OnboardingPlanCreateSerializer
        return record_serializers.OnboardingPlanSerializer

    def perform_create(self, serializer: serializers.BaseSerializer[Any]) -> None:
        data = dict(serializer.validated_data)
        milestones = data.pop("milestones", [])
        serializer.instance = onboarding_plan_create(data=data, milestones=milestones)


@documented("milestone", "milestones", *ALL_ACTIONS)
class MilestoneViewSet(RecordViewSet):
    model = Milestone
    queryset = selectors.milestone_list()
    serializer_class = record_serializers.MilestoneSerializer
    filterset_class = filters.MilestoneFilter
    search_fields = ["name"]
    ordering_fields = ("position", "due_on", "completed_on", "created_at")
    lookup_value_regex = ID_PATTERN


@documented(
    "subscription term",
    "subscription terms",
    "list",
    "retrieve",
    "create",
    "update",
    "partial_update",
    notes="A row is one term: its mrr applies from period_start up to (not including) "
    "period_end. Terms cannot be deleted: revenue already reported is built on them; correct a "
    "term by updating it, or end it by setting its period_end or status.",
)
class SubscriptionViewSet(RecordViewSet):
    model = Subscription
    queryset = selectors.subscription_list()
    serializer_class = record_serializers.SubscriptionSerializer
    filterset_class = filters.SubscriptionFilter
    search_fields = ["plan", "external_id"]
    ordering_fields = ("period_start", "period_end", "mrr", "created_at", "updated_at")
    lookup_value_regex = ID_PATTERN
    # No DELETE: reported revenue is built on the terms (see the description above).
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    bulk = bulk_upsert_action("subscriptions", "subscription terms")


@documented(
    "usage event",
    "usage events",
    "list",
    "retrieve",
    "create",
    notes="Usage events are facts: they are never changed or deleted through the API. "
    "Creating one with an idempotency_key already stored returns the stored event (200).",
)
class UsageEventViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    GenericViewSet,
):
    queryset = selectors.usage_event_list()
    serializer_class = record_serializers.UsageEventSerializer
    filterset_class = filters.UsageEventFilter
    filter_backends = RecordViewSet.filter_backends
    pagination_class = KeysetCursorPagination
    search_fields = ["name"]
    ordering = "-id"
    ordering_fields: ClassVar[tuple[str, ...]] = ("occurred_at", "received_at")
    lookup_value_regex = ID_PATTERN

    @extend_schema(
        responses={
            201: record_serializers.UsageEventSerializer,
            200: record_serializers.UsageEventSerializer,
        }
    )
    def create(self, request: Request) -> Response:
        payload = self.get_serializer(data=request.data)
        payload.is_valid(raise_exception=True)
        event, created = usage_event_record(data=payload.validated_data)
        return Response(
            self.get_serializer(event).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


@documented("ticket", "tickets", *ALL_ACTIONS)
class TicketViewSet(RecordViewSet):
    model = Ticket
    queryset = selectors.ticket_list()
    serializer_class = record_serializers.TicketSerializer
    filterset_class = filters.TicketFilter
    search_fields = ["subject"]
    ordering_fields = ("opened_at", "closed_at", "created_at", "updated_at")
    lookup_value_regex = ID_PATTERN


@documented("survey response", "survey responses", *ALL_ACTIONS)
class SurveyResponseViewSet(RecordViewSet):
    model = SurveyResponse
    queryset = selectors.survey_response_list()
    serializer_class = record_serializers.SurveyResponseSerializer
    filterset_class = filters.SurveyResponseFilter
    search_fields = ["comment", "moment"]
    ordering_fields = ("responded_at", "score", "created_at")
    lookup_value_regex = ID_PATTERN


@documented("touchpoint", "touchpoints", *ALL_ACTIONS)
class TouchpointViewSet(RecordViewSet):
    model = Touchpoint
    queryset = selectors.touchpoint_list()
    serializer_class = record_serializers.TouchpointSerializer
    filterset_class = filters.TouchpointFilter
    search_fields = ["notes"]
    ordering_fields = ("occurred_at", "effort_minutes", "created_at")
    lookup_value_regex = ID_PATTERN

    def perform_create(self, serializer: serializers.BaseSerializer[Any]) -> None:
        data = dict(serializer.validated_data)
        if "author" not in data and isinstance(self.request.user, User):
            data["author"] = self.request.user
        serializer.instance = record_create(model=Touchpoint, data=data)
