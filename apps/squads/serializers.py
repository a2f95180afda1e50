"""Serializers of the squads API (input is strict: unknown or read-only fields are refused)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rest_framework import serializers

from apps.accounts.api.base import StrictInputMixin, TenantRelatedField
from apps.accounts.models import Account, LifecycleStage
from apps.accounts.revenue.periods import EARLIEST_DATE, LATEST_DATE
from apps.accounts.services import rules
from apps.squads import selectors
from apps.squads.models import (
    Cycle,
    FunctionalRole,
    Member,
    Play,
    PlayRun,
    Queue,
    Squad,
    TriggerKind,
    WorkItem,
    WorkItemEvent,
)
from apps.squads.triggers import trigger_config_errors
from fullfield.users.models import User


class Strict(StrictInputMixin, serializers.Serializer[Any]):
    pass


class StrictModel(StrictInputMixin, serializers.ModelSerializer[Any]):
    serializer_related_field = TenantRelatedField


def json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise serializers.ValidationError("Must be a JSON object.")
    if rules.contains_nul(value):
        raise serializers.ValidationError("Null characters are not allowed.")
    return value


class BoundedDateField(serializers.DateField):
    """A date PostgreSQL and date arithmetic both handle (1900 to 3000)."""

    def to_internal_value(self, value: Any) -> dt.date:
        day: dt.date = super().to_internal_value(value)
        if not EARLIEST_DATE <= day <= LATEST_DATE:
            raise serializers.ValidationError(f"Give a date from {EARLIEST_DATE} to {LATEST_DATE}.")
        return day


def account_filter(value: Any) -> None:
    value = json_object(value)
    unknown = set(value) - set(selectors.ACCOUNT_FILTER_LOOKUPS)
    if unknown:
        known = ", ".join(selectors.ACCOUNT_FILTER_LOOKUPS)
        raise serializers.ValidationError(f"Unknown keys {sorted(unknown)}; use {known}.")
    for key, values in value.items():
        items = values if isinstance(values, list) else [values]
        if not all(isinstance(item, str) and len(item) <= 100 for item in items):
            raise serializers.ValidationError(f"{key}: a text or a list of texts.")


# --- members ---------------------------------------------------------------------------------


class MemberSerializer(StrictModel):
    user = TenantRelatedField(queryset=User.objects.filter(is_active=True))
    email = serializers.EmailField(source="user.email", read_only=True)
    name = serializers.CharField(source="user.display_name", read_only=True)
    open_items = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Member
        fields = [
            "id",
            "user",
            "email",
            "name",
            "role",
            "permission_level",
            "capacity",
            "is_available",
            "open_items",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {"capacity": {"min_value": 1, "max_value": 10_000}}


class MemberUpdateSerializer(MemberSerializer):
    class Meta(MemberSerializer.Meta):
        read_only_fields = ["id", "user", "created_at"]


# --- squads ----------------------------------------------------------------------------------


class MembershipSerializer(serializers.Serializer[Any]):
    member = serializers.IntegerField(source="member_id")
    email = serializers.EmailField(source="member.user.email")
    role = serializers.CharField()
    is_lead = serializers.BooleanField()


class SquadSerializer(StrictModel):
    account_filter = serializers.JSONField(
        required=False, validators=[account_filter], help_text=Squad.account_filter.field.help_text
    )
    queue = serializers.IntegerField(source="queue.pk", read_only=True)
    members = MembershipSerializer(source="memberships", many=True, read_only=True)
    size = serializers.SerializerMethodField()
    size_warning = serializers.SerializerMethodField()
    skill_gaps = serializers.SerializerMethodField()

    class Meta:
        model = Squad
        fields = [
            "id",
            "name",
            "mission",
            "value_area",
            "account_filter",
            "cycle_length_days",
            "replicated_from",
            "queue",
            "members",
            "size",
            "size_warning",
            "skill_gaps",
            "created_at",
        ]
        read_only_fields = ["id", "replicated_from", "created_at"]

    def get_size(self, squad: Squad) -> int:
        return selectors.squad_shape(squad=squad).size

    def get_size_warning(self, squad: Squad) -> str | None:
        return selectors.squad_shape(squad=squad).size_warning

    def get_skill_gaps(self, squad: Squad) -> list[str]:
        return selectors.squad_shape(squad=squad).skill_gaps


class SquadMemberAddSerializer(Strict):
    member = TenantRelatedField(queryset=Member.objects.all())
    role = serializers.ChoiceField(
        choices=FunctionalRole.choices, required=False, help_text="Default: the member's role."
    )
    is_lead = serializers.BooleanField(default=False)


class SquadAccountsSerializer(Strict):
    account_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=5000,
    )
    remove = serializers.BooleanField(
        default=False, help_text="Take these accounts off the squad instead."
    )


class SquadReplicateSerializer(Strict):
    name = serializers.CharField(max_length=120)
    mission = serializers.CharField(required=False, allow_blank=True)


class CountSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField()


class CoveredAccountSerializer(serializers.ModelSerializer[Account]):
    clv = serializers.DecimalField(
        max_digits=18,
        decimal_places=2,
        allow_null=True,
        read_only=True,
        help_text="Scoring's lifetime value (null until valued): summed into customer equity.",
    )
    roi = serializers.FloatField(allow_null=True, read_only=True, help_text="Scoring's ROI.")

    class Meta:
        model = Account
        fields = [
            "id",
            "name",
            "segment",
            "region",
            "lifecycle_stage",
            "squad_id",
            "health_score",
            "health_band",
            "clv",
            "roi",
        ]


class CoveredAccountsQuerySerializer(serializers.Serializer[Any]):
    band = serializers.ListField(
        child=serializers.ChoiceField(choices=["good", "average", "poor", "unscored"]),
        required=False,
    )
    renews_within_days = serializers.IntegerField(min_value=1, max_value=365, required=False)


# --- queues and items ------------------------------------------------------------------------


class QueueSerializer(StrictModel):
    squad_name = serializers.CharField(source="squad.name", read_only=True)
    open_items = serializers.IntegerField(read_only=True, default=0)
    claimed_items = serializers.IntegerField(read_only=True, default=0)
    snoozed_items = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Queue
        fields = [
            "id",
            "squad",
            "squad_name",
            "assignment_policy",
            "policy_role",
            "sla_hours",
            "open_items",
            "claimed_items",
            "snoozed_items",
        ]
        read_only_fields = ["id", "squad"]
        extra_kwargs = {"sla_hours": {"min_value": 1, "max_value": 8760}}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        policy = attrs.get("assignment_policy", getattr(self.instance, "assignment_policy", None))
        role = attrs.get("policy_role", getattr(self.instance, "policy_role", ""))
        if policy == "by_role" and not role:
            raise serializers.ValidationError({"policy_role": ["by_role needs a role."]})
        return attrs


class ChecklistEntrySerializer(serializers.Serializer[Any]):
    text = serializers.CharField()
    done = serializers.BooleanField()


class WorkItemSerializer(serializers.ModelSerializer[WorkItem]):
    squad = serializers.IntegerField(source="queue.squad_id", read_only=True)
    account_name = serializers.CharField(source="account.name", read_only=True)
    assignee_email = serializers.EmailField(
        source="assignee.user.email", read_only=True, allow_null=True, default=None
    )
    checklist = ChecklistEntrySerializer(many=True, read_only=True)

    class Meta:
        model = WorkItem
        fields = [
            "id",
            "queue",
            "squad",
            "account",
            "account_name",
            "play",
            "title",
            "description",
            "checklist",
            "priority",
            "priority_basis",
            "due_at",
            "sla_due_at",
            "status",
            "assignee",
            "assignee_email",
            "claimed_at",
            "snoozed_until",
            "closed_at",
            "outcome",
            "effort_minutes",
            "dismissed_reason",
            "touchpoint_id",
            "retriggered_count",
            "band_at_open",
            "band_at_close",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class WorkItemCreateSerializer(Strict):
    queue = TenantRelatedField(queryset=Queue.objects.all())
    account = TenantRelatedField(queryset=Account.objects.all())
    title = serializers.CharField(max_length=300)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    checklist = serializers.ListField(
        child=serializers.CharField(max_length=300), required=False, default=list, max_length=50
    )
    due_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    expansion = serializers.BooleanField(
        default=False, help_text="Rank by expected gain (expansion) instead of expected loss."
    )


class AssignSerializer(Strict):
    assignee = TenantRelatedField(queryset=Member.objects.all())


class SnoozeSerializer(Strict):
    until = serializers.DateTimeField()


class CompleteSerializer(Strict):
    outcome = serializers.CharField(max_length=300)
    effort_minutes = serializers.IntegerField(min_value=0, max_value=100_000)
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class DismissSerializer(Strict):
    reason = serializers.CharField(max_length=300)


class CommentSerializer(Strict):
    body = serializers.CharField(max_length=10_000)


class ChecklistUpdateSerializer(Strict):
    done = serializers.ListField(child=serializers.BooleanField(), max_length=50)


class WorkItemEventSerializer(serializers.ModelSerializer[WorkItemEvent]):
    actor_email = serializers.EmailField(
        source="actor.email", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = WorkItemEvent
        fields = ["id", "kind", "actor", "actor_email", "body", "data", "at"]
        read_only_fields = fields


BULK_ACTIONS = ["claim", "assign", "snooze", "release", "complete", "dismiss"]


class BulkSerializer(Strict):
    action = serializers.ChoiceField(choices=BULK_ACTIONS)
    item_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=500,
    )
    assignee = TenantRelatedField(queryset=Member.objects.all(), required=False)
    until = serializers.DateTimeField(required=False)
    outcome = serializers.CharField(max_length=300, required=False)
    effort_minutes = serializers.IntegerField(min_value=0, max_value=100_000, required=False)
    reason = serializers.CharField(max_length=300, required=False)

    NEEDS = {"assign": "assignee", "snooze": "until", "complete": "outcome", "dismiss": "reason"}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        needed = self.NEEDS.get(attrs["action"])
        if needed and needed not in attrs:
            raise serializers.ValidationError({needed: [f"Required by {attrs['action']}."]})
        return attrs


class WorkItemBulkResultSerializer(serializers.Serializer[Any]):
    succeeded = serializers.ListField(child=serializers.IntegerField())
    failed = serializers.DictField(
        child=serializers.CharField(), help_text="Item id -> why the action failed."
    )


# --- plays -----------------------------------------------------------------------------------


class ItemTemplateSerializer(Strict):
    title = serializers.CharField(max_length=250, help_text="{account} is the account's name.")
    description = serializers.CharField(required=False, allow_blank=True)
    checklist = serializers.ListField(
        child=serializers.CharField(max_length=300), required=False, max_length=50
    )
    due_in_days = serializers.IntegerField(min_value=0, max_value=365, required=False)
    kind = serializers.ChoiceField(choices=["risk", "expansion"], required=False)


AUDIENCE_KEYS = {*selectors.ACCOUNT_FILTER_LOOKUPS, "squad_accounts_only"}


def audience(value: Any) -> None:
    value = json_object(value)
    flag = value.get("squad_accounts_only", False)
    if not isinstance(flag, bool):
        raise serializers.ValidationError("squad_accounts_only: true or false.")
    account_filter({k: v for k, v in value.items() if k != "squad_accounts_only"})


def is_json_object(value: Any) -> None:
    json_object(value)


class PlaySerializer(StrictModel):
    trigger_config = serializers.JSONField(required=False, validators=[is_json_object])
    audience = serializers.JSONField(
        required=False, validators=[audience], help_text=Play.audience.field.help_text
    )
    item_template = ItemTemplateSerializer()
    set_lifecycle_stage = serializers.ChoiceField(
        choices=LifecycleStage.choices, allow_blank=True, required=False
    )

    class Meta:
        model = Play
        fields = [
            "id",
            "squad",
            "name",
            "description",
            "status",
            "trigger",
            "trigger_config",
            "audience",
            "item_template",
            "set_lifecycle_stage",
            "send_webhook",
            "reenrol_max",
            "reenrol_window_days",
            "disabled_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "status", "disabled_reason", "created_at", "updated_at"]
        extra_kwargs = {
            "reenrol_max": {"min_value": 1, "max_value": 100},
            "reenrol_window_days": {"min_value": 1, "max_value": 3650},
        }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        trigger = attrs.get("trigger", getattr(self.instance, "trigger", None))
        config = attrs.get("trigger_config", getattr(self.instance, "trigger_config", {}))
        if trigger in TriggerKind.values:
            errors = trigger_config_errors(trigger, config)
            if errors:
                raise serializers.ValidationError({"trigger_config": errors})
        return attrs


class PlayUpdateSerializer(PlaySerializer):
    item_template = ItemTemplateSerializer(required=False)

    class Meta(PlaySerializer.Meta):
        read_only_fields = ["id", "squad", "status", "disabled_reason", "created_at", "updated_at"]


class PlayDisableSerializer(Strict):
    reason = serializers.CharField(max_length=300)


class DryRunSerializer(Strict):
    account = TenantRelatedField(queryset=Account.objects.all())


class PlayRunSerializer(serializers.ModelSerializer[PlayRun]):
    class Meta:
        model = PlayRun
        fields = [
            "id",
            "play",
            "cause",
            "event",
            "dry_run",
            "evaluated_count",
            "matched_count",
            "matched_account_ids",
            "created_item_ids",
            "updated_item_ids",
            "decisions",
            "ran_at",
        ]
        read_only_fields = fields


class PreviewSerializer(serializers.Serializer[Any]):
    audience_count = serializers.IntegerField(help_text="Accounts in the play's audience.")
    matching_count = serializers.IntegerField(help_text="Of these, accounts the trigger matches.")
    sample = CoveredAccountSerializer(many=True)


# --- cycles ----------------------------------------------------------------------------------


class CycleSerializer(StrictModel):
    starts_on = BoundedDateField()
    ends_on = BoundedDateField()

    class Meta:
        model = Cycle
        fields = [
            "id",
            "squad",
            "name",
            "goal",
            "hypothesis",
            "starts_on",
            "ends_on",
            "play_changes",
            "status",
            "outcome",
            "lessons",
            "created_at",
        ]
        read_only_fields = ["id", "outcome", "created_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("status") == Cycle.Status.CLOSED:
            raise serializers.ValidationError({"status": ["Close a cycle with its close action."]})
        return attrs


class CycleUpdateSerializer(CycleSerializer):
    class Meta(CycleSerializer.Meta):
        read_only_fields = ["id", "squad", "outcome", "created_at"]


class CycleCloseSerializer(Strict):
    lessons = serializers.CharField(max_length=20_000)


# --- scorecards ------------------------------------------------------------------------------


class PeriodSerializer(serializers.Serializer[Any]):
    start = BoundedDateField(required=False)
    end = BoundedDateField(required=False)


class ScorecardSerializer(serializers.Serializer[Any]):
    squad_id = serializers.IntegerField(allow_null=True)
    squad_name = serializers.CharField()
    start = serializers.DateField()
    end = serializers.DateField(help_text="Exclusive.")
    accounts_covered = serializers.IntegerField()
    customer_equity = serializers.DecimalField(max_digits=20, decimal_places=2)
    customer_equity_change = serializers.DecimalField(max_digits=20, decimal_places=2)
    net_revenue_retention = serializers.DecimalField(
        max_digits=12, decimal_places=4, allow_null=True
    )
    gross_revenue_retention = serializers.DecimalField(
        max_digits=12, decimal_places=4, allow_null=True
    )
    health_distribution = serializers.DictField(
        child=serializers.IntegerField(), help_text="Covered accounts per current band."
    )
    health_distribution_at_start = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Covered accounts per band at the period's start, from the score history.",
    )
    average_health = serializers.FloatField(allow_null=True)
    average_health_at_start = serializers.FloatField(allow_null=True)
    average_health_change = serializers.FloatField(allow_null=True)
    renewals_at_risk = serializers.IntegerField(
        help_text="Covered accounts in poor or average health with a term ending within 90 days."
    )
    renewals_at_risk_arr = serializers.DecimalField(max_digits=20, decimal_places=2)
    items_opened = serializers.IntegerField()
    items_closed = serializers.IntegerField()
    items_dismissed = serializers.IntegerField()
    sla_hit_rate = serializers.FloatField(allow_null=True)
    effort_minutes = serializers.IntegerField()
    saves = serializers.IntegerField(
        help_text="Accounts a completed item took out of poor health (into average or good)."
    )
    roi = serializers.FloatField(
        allow_null=True, help_text="Scoring's ROI over the covered accounts' summed value."
    )
    links = serializers.DictField(
        child=serializers.CharField(), help_text="Figure -> the API list of the rows behind it."
    )


class ScorecardRollupSerializer(serializers.Serializer[Any]):
    total = ScorecardSerializer()
    squads = ScorecardSerializer(many=True)
