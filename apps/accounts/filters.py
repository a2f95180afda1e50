"""Query filters of the account-record lists (django-filter).

Related records are filtered by id (`?account=12`): the lists read the tenant's own schema,
so another tenant's id simply matches nothing.
"""

from __future__ import annotations

from typing import Any

import django_filters as filters
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.accounts.models import (
    Account,
    Contact,
    Lead,
    LifecycleStage,
    Milestone,
    OnboardingPlan,
    Opportunity,
    Subscription,
    SurveyResponse,
    Ticket,
    Touchpoint,
    UsageEvent,
)
from apps.accounts.selectors import OPEN_TICKET_STATUSES
from fullfield.api.filters import UtcDateTimeFilter


class SyncedRecordFilter(filters.FilterSet):  # type: ignore[misc]  # django-filter ships no types
    """Filters of every record synced from another system."""

    source_system = filters.CharFilter()
    external_id = filters.CharFilter()
    updated_after = UtcDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text="Changed at or after (sync)."
    )


class AccountFilter(SyncedRecordFilter):
    lifecycle_stage = filters.MultipleChoiceFilter(choices=LifecycleStage.choices)
    segment = filters.CharFilter()
    tier = filters.CharFilter()
    region = filters.CharFilter()
    industry = filters.CharFilter()
    owner = filters.NumberFilter(field_name="owner_id")
    squad = filters.NumberFilter(field_name="squad_id")
    parent = filters.NumberFilter(field_name="parent_id")
    is_root = filters.BooleanFilter(
        field_name="parent", lookup_expr="isnull", help_text="Top of a hierarchy (no parent)."
    )
    rescore_pending = filters.BooleanFilter(
        method="filter_rescore_pending", help_text="Touched by new data and not yet rescored."
    )
    health_band = filters.MultipleChoiceFilter(
        choices=[("good", "good"), ("average", "average"), ("poor", "poor")],
        help_text="Health band: good (>= 70), average (40..69), poor (< 40).",
    )
    health_score_min = filters.NumberFilter(
        field_name="health_score", lookup_expr="gte", help_text="Health score at least (0..100)."
    )
    health_score_max = filters.NumberFilter(
        field_name="health_score", lookup_expr="lte", help_text="Health score at most (0..100)."
    )

    class Meta:
        model = Account
        fields: list[str] = []

    def filter_rescore_pending(
        self, queryset: QuerySet[Account], name: str, value: bool
    ) -> QuerySet[Account]:
        return queryset.filter(rescore_requested_at__isnull=not value)


class ContactFilter(SyncedRecordFilter):
    account = filters.NumberFilter(field_name="account_id")
    persona = filters.MultipleChoiceFilter(choices=Contact.Persona.choices)
    is_champion = filters.BooleanFilter()
    email = filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Contact
        fields: list[str] = []


class LeadFilter(SyncedRecordFilter):
    status = filters.MultipleChoiceFilter(choices=Lead.Status.choices)
    lead_source = filters.CharFilter()
    campaign = filters.CharFilter()
    converted_account = filters.NumberFilter(field_name="converted_account_id")
    converted_after = UtcDateTimeFilter(field_name="converted_at", lookup_expr="gte")
    converted_before = UtcDateTimeFilter(field_name="converted_at", lookup_expr="lt")

    class Meta:
        model = Lead
        fields: list[str] = []


class OpportunityFilter(SyncedRecordFilter):
    account = filters.NumberFilter(field_name="account_id")
    kind = filters.MultipleChoiceFilter(choices=Opportunity.Kind.choices)
    status = filters.MultipleChoiceFilter(choices=Opportunity.Status.choices)
    stage = filters.CharFilter()
    close_date_from = filters.DateFilter(field_name="close_date", lookup_expr="gte")
    close_date_to = filters.DateFilter(
        field_name="close_date", lookup_expr="lte", help_text="Inclusive."
    )
    amount_min = filters.NumberFilter(field_name="amount", lookup_expr="gte")
    amount_max = filters.NumberFilter(field_name="amount", lookup_expr="lte")

    class Meta:
        model = Opportunity
        fields: list[str] = []


class OnboardingPlanFilter(filters.FilterSet):  # type: ignore[misc]  # django-filter ships no types
    account = filters.NumberFilter(field_name="account_id")
    is_completed = filters.BooleanFilter(
        field_name="completed_on", exclude=True, lookup_expr="isnull"
    )
    started_from = filters.DateFilter(field_name="started_on", lookup_expr="gte")
    started_to = filters.DateFilter(field_name="started_on", lookup_expr="lte")

    class Meta:
        model = OnboardingPlan
        fields: list[str] = []


class MilestoneFilter(filters.FilterSet):  # type: ignore[misc]  # django-filter ships no types
    plan = filters.NumberFilter(field_name="plan_id")
    account = filters.NumberFilter(field_name="plan__account_id")
    is_completed = filters.BooleanFilter(
        field_name="completed_on", exclude=True, lookup_expr="isnull"
    )
    is_overdue = filters.BooleanFilter(
        method="filter_overdue", help_text="Not completed and due before today (UTC)."
    )
    due_from = filters.DateFilter(field_name="due_on", lookup_expr="gte")
    due_to = filters.DateFilter(field_name="due_on", lookup_expr="lte")

    class Meta:
        model = Milestone
        fields: list[str] = []

    def filter_overdue(
        self, queryset: QuerySet[Milestone], name: str, value: bool
    ) -> QuerySet[Milestone]:
        overdue = Milestone.overdue_on(timezone.now().date())
        return queryset.filter(overdue) if value else queryset.exclude(overdue)


class SubscriptionFilter(SyncedRecordFilter):
    account = filters.NumberFilter(field_name="account_id")
    plan = filters.CharFilter()
    status = filters.MultipleChoiceFilter(choices=Subscription.Status.choices)
    change_kind = filters.MultipleChoiceFilter(choices=Subscription.ChangeKind.choices)
    in_force_on = filters.DateFilter(
        method="filter_in_force_on",
        help_text="Terms counting in MRR on this day (active or past_due, in their period).",
    )
    period_end_from = filters.DateFilter(field_name="period_end", lookup_expr="gte")
    period_end_to = filters.DateFilter(
        field_name="period_end", lookup_expr="lte", help_text="Renewals due up to this day."
    )

    class Meta:
        model = Subscription
        fields: list[str] = []

    def filter_in_force_on(
        self, queryset: QuerySet[Subscription], name: str, value: Any
    ) -> QuerySet[Subscription]:
        return queryset.filter(Subscription.in_force_on(value))


class UsageEventFilter(filters.FilterSet):  # type: ignore[misc]  # django-filter ships no types
    account = filters.NumberFilter(field_name="account_id")
    contact = filters.NumberFilter(field_name="contact_id")
    name = filters.CharFilter()
    occurred_after = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = UsageEvent
        fields: list[str] = []


class TicketFilter(SyncedRecordFilter):
    account = filters.NumberFilter(field_name="account_id")
    priority = filters.MultipleChoiceFilter(choices=Ticket.Priority.choices)
    status = filters.MultipleChoiceFilter(choices=Ticket.Status.choices)
    is_open = filters.BooleanFilter(method="filter_open", help_text="Status open or pending.")
    opened_after = UtcDateTimeFilter(field_name="opened_at", lookup_expr="gte")
    opened_before = UtcDateTimeFilter(field_name="opened_at", lookup_expr="lt")

    class Meta:
        model = Ticket
        fields: list[str] = []

    def filter_open(self, queryset: QuerySet[Ticket], name: str, value: bool) -> QuerySet[Ticket]:
        is_open = Q(status__in=OPEN_TICKET_STATUSES)
        return queryset.filter(is_open) if value else queryset.exclude(is_open)


class SurveyResponseFilter(SyncedRecordFilter):
    account = filters.NumberFilter(field_name="account_id")
    kind = filters.MultipleChoiceFilter(choices=SurveyResponse.Kind.choices)
    moment = filters.CharFilter()
    score_min = filters.NumberFilter(field_name="score", lookup_expr="gte")
    score_max = filters.NumberFilter(field_name="score", lookup_expr="lte")
    responded_after = UtcDateTimeFilter(field_name="responded_at", lookup_expr="gte")
    responded_before = UtcDateTimeFilter(field_name="responded_at", lookup_expr="lt")

    class Meta:
        model = SurveyResponse
        fields: list[str] = []


class TouchpointFilter(SyncedRecordFilter):
    account = filters.NumberFilter(field_name="account_id")
    kind = filters.MultipleChoiceFilter(choices=Touchpoint.Kind.choices)
    author = filters.NumberFilter(field_name="author_id")
    occurred_after = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Touchpoint
        fields: list[str] = []
