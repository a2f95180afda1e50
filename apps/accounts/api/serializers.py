"""Serializers of the account records (input is strict: see api/base.py).

The writable fields of a record that bulk upserts are those of its bulk spec (`record_fields`):
the spec declares them once, and each is parsed by the parser of its rule (api/base.py).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.accounts import selectors
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
    UsageEvent,
)
from apps.accounts.services import rules
from apps.accounts.services.bulk import BULK_MAX_ITEMS, SPECS, reference_keys

from .base import RecordSerializer, StrictInputMixin

SYNC_FIELDS = ["source_system", "external_id"]
TIMESTAMPS = ["created_at", "updated_at"]
ACTIVE_USERS = rules.assignable_users()


# Written by the scoring app's recompute: 0..100 (100 healthiest), band, 30-day change, as-of.
HEALTH_FIELDS = ["health_score", "health_band", "health_trend", "health_as_of"]


class AccountSerializer(RecordSerializer[Account]):
    squad_id = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="The squad that works this account; assigned by the squads API.",
    )

    class Meta:
        model = Account
        fields = [
            "id",
            *SPECS["accounts"].record_fields(),
            "squad_id",
            "rescore_requested_at",
            *HEALTH_FIELDS,
            *TIMESTAMPS,
        ]
        read_only_fields = ["id", "rescore_requested_at", *HEALTH_FIELDS, *TIMESTAMPS]
        # External ids are checked in RecordSerializer, with a message on the field.
        validators: list[Any] = []
        extra_kwargs = {
            "owner": {"queryset": ACTIVE_USERS, "help_text": "The user who owns the account."},
            "parent": {"help_text": "The parent account in a hierarchy (roll-ups)."},
            "currency": {"help_text": "ISO 4217; must be the workspace's currency."},
        }


class ContactSerializer(RecordSerializer[Contact]):
    class Meta:
        model = Contact
        fields = ["id", *SPECS["contacts"].record_fields(), *TIMESTAMPS]
        read_only_fields = ["id", *TIMESTAMPS]
        validators: list[Any] = []


class LeadSerializer(RecordSerializer[Lead]):
    class Meta:
        model = Lead
        fields = ["id", *SPECS["leads"].record_fields(), *TIMESTAMPS]
        read_only_fields = ["id", *TIMESTAMPS]
        validators: list[Any] = []
        extra_kwargs = {
            "converted_at": {"help_text": "Set to now when status becomes converted without it."}
        }


class OpportunitySerializer(RecordSerializer[Opportunity]):
    class Meta:
        model = Opportunity
        fields = ["id", *SPECS["opportunities"].record_fields(), *TIMESTAMPS]
        read_only_fields = ["id", *TIMESTAMPS]
        validators: list[Any] = []


class MilestoneSerializer(RecordSerializer[Milestone]):
    is_overdue = serializers.SerializerMethodField(
        help_text="Not completed and due before today (UTC)."
    )

    class Meta:
        model = Milestone
        fields = [
            "id",
            "plan",
            "name",
            "position",
            "due_on",
            "completed_on",
            "is_overdue",
            *TIMESTAMPS,
        ]
        read_only_fields = ["id", *TIMESTAMPS]

    def get_is_overdue(self, milestone: Milestone) -> bool:
        return milestone.is_overdue_on(timezone.now().date())


class PlanMilestoneSerializer(MilestoneSerializer):
    """A milestone inside its plan (the plan is implied)."""

    class Meta(MilestoneSerializer.Meta):
        fields = ["id", "name", "position", "due_on", "completed_on", "is_overdue"]
        read_only_fields = ["id"]


class OnboardingPlanSerializer(RecordSerializer[OnboardingPlan]):
    milestones = PlanMilestoneSerializer(
        many=True,
        read_only=True,
        help_text="In order. Change them at /api/v1/milestones/.",
    )
    milestones_total = serializers.SerializerMethodField()
    milestones_done = serializers.SerializerMethodField()

    class Meta:
        model = OnboardingPlan
        fields = [
            "id",
            "account",
            "name",
            "started_on",
            "target_live_on",
            "completed_on",
            "milestones",
            "milestones_total",
            "milestones_done",
            *TIMESTAMPS,
        ]
        read_only_fields = ["id", *TIMESTAMPS]

    def get_milestones_total(self, plan: OnboardingPlan) -> int:
        return len(plan.milestones.all())

    def get_milestones_done(self, plan: OnboardingPlan) -> int:
        return sum(1 for milestone in plan.milestones.all() if milestone.completed_on)


class OnboardingPlanCreateSerializer(OnboardingPlanSerializer):
    milestones = PlanMilestoneSerializer(
        many=True, required=False, help_text="Created with the plan, in this order."
    )


class SubscriptionSerializer(RecordSerializer[Subscription]):
    is_in_force = serializers.SerializerMethodField(
        help_text="Counts in MRR today: active or past_due, period_start <= today < period_end."
    )

    class Meta:
        model = Subscription
        fields = ["id", *SPECS["subscriptions"].record_fields(), "is_in_force", *TIMESTAMPS]
        read_only_fields = ["id", *TIMESTAMPS]
        validators: list[Any] = []

    def get_is_in_force(self, term: Subscription) -> bool:
        return term.is_in_force_on(timezone.now().date())


class UsageEventSerializer(RecordSerializer[UsageEvent]):
    class Meta:
        model = UsageEvent
        fields = [
            "id",
            "account",
            "contact",
            "name",
            "occurred_at",
            "value",
            "properties",
            "idempotency_key",
            "received_at",
        ]
        read_only_fields = ["id", "received_at"]
        extra_kwargs = {
            # A repeated key is not an error: the stored event is returned (idempotent ingest).
            "idempotency_key": {
                "required": False,
                "validators": [],
                "help_text": "Sending the same key again returns the stored event. "
                "Generated when absent.",
            }
        }


class TicketSerializer(RecordSerializer[Ticket]):
    class Meta:
        model = Ticket
        fields = [
            "id",
            *SYNC_FIELDS,
            "account",
            "contact",
            "subject",
            "priority",
            "status",
            "opened_at",
            "first_response_at",
            "closed_at",
            *TIMESTAMPS,
        ]
        read_only_fields = ["id", *TIMESTAMPS]
        validators: list[Any] = []


class SurveyResponseSerializer(RecordSerializer[SurveyResponse]):
    class Meta:
        model = SurveyResponse
        fields = [
            "id",
            *SYNC_FIELDS,
            "account",
            "contact",
            "kind",
            "score",
            "moment",
            "comment",
            "responded_at",
            *TIMESTAMPS,
        ]
        read_only_fields = ["id", *TIMESTAMPS]
        validators: list[Any] = []
        extra_kwargs = {"score": {"help_text": "NPS 0-10, CSAT 1-5, CES 1-7."}}


class TouchpointSerializer(RecordSerializer[Touchpoint]):
    class Meta:
        model = Touchpoint
        fields = [
            "id",
            *SYNC_FIELDS,
            "account",
            "contact",
            "kind",
            "occurred_at",
            "author",
            "effort_minutes",
            "notes",
            *TIMESTAMPS,
        ]
        read_only_fields = ["id", *TIMESTAMPS]
        validators: list[Any] = []
        extra_kwargs = {
            "author": {
                "queryset": ACTIVE_USERS,
                "help_text": "Defaults to the signed-in user (none for API keys).",
            }
        }


# --- bulk upsert ----------------------------------------------------------------------------


def _choice_document(values: list[str]) -> serializers.Field[Any, Any, Any, Any]:
    """A choice field documented as a plain string enum of its own.

    The record's serializer already documents the model's choice set; the same set in a second
    component would make the schema generator's enum names collide (Status, Kind, ...).
    """
    field_class: type[serializers.CharField] = extend_schema_field(
        {"type": "string", "enum": values}
    )(type("BulkChoiceField", (serializers.CharField,), {}))
    return field_class(required=False)


def _bulk_item_serializer(entity: str) -> type[serializers.Serializer[Any]]:
    """The documented shape of one bulk item, derived from the same spec the service uses."""
    spec = SPECS[entity]
    declared: dict[str, serializers.Field[Any, Any, Any, Any]] = {
        "source_system": serializers.CharField(
            required=False, help_text='The system the record comes from; default "api".'
        ),
        "external_id": serializers.CharField(help_text="Matches the item to a stored record."),
    }
    for reference in spec.references:
        id_key, external_key, source_key = reference_keys(reference.name)
        declared[id_key] = serializers.IntegerField(required=False, allow_null=True)
        declared[external_key] = serializers.CharField(required=False, allow_null=True)
        declared[source_key] = serializers.CharField(
            required=False, help_text=f"Where {external_key} is looked up; default: this item's."
        )
    if spec.has_owner:
        declared["owner_id"] = serializers.IntegerField(required=False, allow_null=True)
        declared["owner_email"] = serializers.EmailField(required=False, allow_null=True)
    for name, field in spec.fields.items():
        if field.choices:
            declared[name] = _choice_document([str(choice[0]) for choice in field.choices])
    model: type[models.Model] = spec.model
    meta = type(
        "Meta",
        (),
        {
            "model": model,
            "fields": [*declared, *spec.columns],
            "extra_kwargs": {name: {"required": False} for name in spec.columns},
        },
    )
    name = f"{model.__name__}BulkItemSerializer"
    return type(name, (serializers.ModelSerializer,), {**declared, "Meta": meta})


def _bulk_request_serializer(entity: str) -> type[serializers.Serializer[Any]]:
    item = _bulk_item_serializer(entity)
    model_name = SPECS[entity].model.__name__
    return type(
        f"{model_name}BulkUpsertSerializer",
        (serializers.Serializer,),
        {
            "items": item(
                many=True,
                help_text=f"Up to {BULK_MAX_ITEMS} items; each is created or updated by "
                "(source_system, external_id).",
            )
        },
    )


BULK_REQUEST_SERIALIZERS = {entity: _bulk_request_serializer(entity) for entity in SPECS}


class BulkItemsField(serializers.ListField):
    """The raw items: each is validated by the bulk service, which reports errors per item."""

    def to_internal_value(self, data: Any) -> list[Any]:
        if not isinstance(data, list):
            raise serializers.ValidationError("Expected a list of items.")
        if len(data) > BULK_MAX_ITEMS:
            raise serializers.ValidationError(
                f"At most {BULK_MAX_ITEMS} items per request; got {len(data)}."
            )
        return data


class BulkRequestSerializer(StrictInputMixin, serializers.Serializer[Any]):
    """{"items": [...]}: only the envelope is checked here, not the items."""

    items = BulkItemsField()


class BulkResultSerializer(serializers.Serializer[Any]):
    index = serializers.IntegerField(help_text="The item's position in the request.")
    status = serializers.ChoiceField(choices=["created", "updated", "error"])
    id = serializers.IntegerField(allow_null=True, help_text="The record's id; null on error.")
    # Output only: the name shadows Serializer.errors, which this serializer never validates.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Field name -> messages (empty unless status is error).",
    )


class BulkSummarySerializer(serializers.Serializer[Any]):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    error = serializers.IntegerField()


class BulkResponseSerializer(serializers.Serializer[Any]):
    results = BulkResultSerializer(many=True, help_text="One result per item, in order.")
    summary = BulkSummarySerializer()


# --- timeline and 360 -------------------------------------------------------------------


class TimelineEntrySerializer(serializers.Serializer[Any]):
    at = serializers.DateTimeField(help_text="When it happened; dates are at 00:00 UTC.")
    kind = serializers.ChoiceField(choices=list(selectors.TIMELINE_KINDS))
    id = serializers.IntegerField(help_text="The record's id in its own resource.")
    title = serializers.CharField()
    details = serializers.DictField(help_text="A few fields of the record, by kind.")


class TimelinePageSerializer(serializers.Serializer[Any]):
    next = serializers.URLField(allow_null=True, help_text="The next (older) page.")
    results = TimelineEntrySerializer(many=True)


class ChildAccountSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    lifecycle_stage = serializers.CharField()
    segment = serializers.CharField()


class PipelineSerializer(serializers.Serializer[Any]):
    open_count = serializers.IntegerField(help_text="Open opportunities.")
    open_amount = serializers.DecimalField(max_digits=16, decimal_places=2)


class LastWonDealSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    close_date = serializers.DateField(allow_null=True)


class OnboardingSummarySerializer(serializers.Serializer[Any]):
    plan = serializers.IntegerField(help_text="The latest plan (by start date).")
    name = serializers.CharField()
    started_on = serializers.DateField()
    target_live_on = serializers.DateField(allow_null=True)
    completed_on = serializers.DateField(allow_null=True)
    milestones_total = serializers.IntegerField()
    milestones_done = serializers.IntegerField()
    milestones_overdue = serializers.IntegerField(help_text="Open and due before today.")


class UsageSummarySerializer(serializers.Serializer[Any]):
    events_last_30_days = serializers.IntegerField()
    value_last_30_days = serializers.FloatField(help_text="Sum of the events' values.")
    events_previous_30_days = serializers.IntegerField(help_text="Days 31 to 60 ago.")
    value_previous_30_days = serializers.FloatField()
    last_event_at = serializers.DateTimeField(allow_null=True, help_text="Within 60 days.")


class OpenTicketsSerializer(serializers.Serializer[Any]):
    total = serializers.IntegerField(help_text="Tickets open or pending.")
    by_priority = serializers.DictField(child=serializers.IntegerField())


class SurveySummarySerializer(serializers.Serializer[Any]):
    score = serializers.IntegerField()
    moment = serializers.CharField()
    responded_at = serializers.DateTimeField()


class LastSurveysSerializer(serializers.Serializer[Any]):
    nps = SurveySummarySerializer(allow_null=True)
    csat = SurveySummarySerializer(allow_null=True)
    ces = SurveySummarySerializer(allow_null=True)


class RevenueSummarySerializer(serializers.Serializer[Any]):
    current_mrr = serializers.DecimalField(
        max_digits=16, decimal_places=2, help_text="Sum of the terms in force today."
    )
    currency = serializers.CharField()
    next_renewal_on = serializers.DateField(
        allow_null=True, help_text="The earliest period_end of the terms in force."
    )
    terms_in_force = serializers.IntegerField()


class Account360Serializer(serializers.Serializer[Any]):
    account = AccountSerializer()
    children = ChildAccountSerializer(many=True, help_text="Up to 50, by name.")
    children_count = serializers.IntegerField()
    pipeline = PipelineSerializer()
    last_won_deal = LastWonDealSerializer(allow_null=True)
    onboarding = OnboardingSummarySerializer(allow_null=True)
    usage = UsageSummarySerializer()
    open_tickets = OpenTicketsSerializer()
    last_surveys = LastSurveysSerializer()
    revenue = RevenueSummarySerializer()
