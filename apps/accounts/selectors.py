"""Reads of the account record: list querysets, the account timeline and the 360 view."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import orjson
from django.db import connection
from django.db.models import Count, F, Max, Min, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Lower
from django.utils import timezone

from apps.accounts.cursors import cursor_decode, cursor_encode
from apps.accounts.models import (
    Account,
    Contact,
    Lead,
    Milestone,
    OnboardingPlan,
    Opportunity,
    RevenueSnapshot,
    SavedView,
    Subscription,
    SurveyResponse,
    Ticket,
    Touchpoint,
    UsageEvent,
)
from fullfield.errors import DomainError, NotFound
from fullfield.tenancy.context import current_tenant

OPEN_TICKET_STATUSES = (Ticket.Status.OPEN, Ticket.Status.PENDING)


# --- lists -------------------------------------------------------------------------------


def account_list() -> QuerySet[Account]:
    return Account.objects.all()


def contact_list() -> QuerySet[Contact]:
    return Contact.objects.all()


def lead_list() -> QuerySet[Lead]:
    return Lead.objects.all()


def opportunity_list() -> QuerySet[Opportunity]:
    return Opportunity.objects.all()


def onboarding_plan_list() -> QuerySet[OnboardingPlan]:
    return OnboardingPlan.objects.prefetch_related(
        Prefetch("milestones", queryset=Milestone.objects.order_by("position", "id"))
    )


def milestone_list() -> QuerySet[Milestone]:
    return Milestone.objects.select_related("plan")


def subscription_list() -> QuerySet[Subscription]:
    return Subscription.objects.all()


def usage_event_list() -> QuerySet[UsageEvent]:
    return UsageEvent.objects.all()


def ticket_list() -> QuerySet[Ticket]:
    return Ticket.objects.all()


def survey_response_list() -> QuerySet[SurveyResponse]:
    return SurveyResponse.objects.all()


def touchpoint_list() -> QuerySet[Touchpoint]:
    return Touchpoint.objects.all()


def account_ancestor_ids(*, account_id: int) -> set[int]:
    """The account and every account above it in the hierarchy."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE up(id, parent_id) AS (
                SELECT id, parent_id FROM {Account._meta.db_table} WHERE id = %s
                UNION
                SELECT a.id, a.parent_id FROM {Account._meta.db_table} a
                JOIN up ON a.id = up.parent_id
            )
            SELECT id FROM up
            """,  # noqa: S608 - the table name is the model's, never input
            [account_id],
        )
        return {row[0] for row in cursor.fetchall()}


def account_get(*, account_id: int) -> Account:
    account = Account.objects.select_related("parent").filter(pk=account_id).first()
    if account is None:
        raise NotFound(f"No account with id {account_id}.")
    return account


# --- timeline ----------------------------------------------------------------------------

TIMELINE_KINDS = (
    "opportunity",
    "subscription",
    "onboarding_plan",
    "milestone",
    "usage_event",
    "ticket",
    "survey_response",
    "touchpoint",
    "lead",
)


@dataclasses.dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    kind: str
    id: int
    title: str
    details: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class TimelinePosition:
    """Where a timeline page ends: entries sort by (at, kind, id), newest first."""

    at: dt.datetime
    kind: str
    id: int

    def encode(self) -> str:
        return cursor_encode([self.at.isoformat(), self.kind, self.id])

    @classmethod
    def decode(cls, cursor: str) -> TimelinePosition:
        try:
            at, kind, record_id = cursor_decode(cursor)
            position = cls(dt.datetime.fromisoformat(at), str(kind), int(record_id))
        except (ValueError, TypeError):
            raise DomainError("Invalid cursor.", fields={"cursor": ["Invalid cursor."]}) from None
        if position.at.tzinfo is None:
            raise DomainError("Invalid cursor.", fields={"cursor": ["Invalid cursor."]})
        return position


@dataclasses.dataclass(frozen=True)
class TimelinePage:
    entries: list[TimelineEntry]
    next: TimelinePosition | None


# One SELECT per kind: (at, kind, id, title, data) of one account's dated records; a date
# counts as the UTC midnight that starts it. Each branch is filtered by the keyset position and
# limited on its own, so it reads at most one page through its (account, time) index, and the
# merge sorts a few pages, never the whole history.
_TIMELINE_BRANCHES: dict[str, str] = {
    "opportunity": """
        SELECT d.at, 'opportunity', o.id, o.name,
               jsonb_build_object('status', o.status, 'stage', o.stage, 'kind', o.kind,
                                  'amount', o.amount::text, 'currency', o.currency,
                                  'close_date', o.close_date)
        FROM accounts_opportunity o
        CROSS JOIN LATERAL (SELECT o.close_date::timestamp AT TIME ZONE 'UTC' AS at) d
        WHERE o.account_id = %(account)s AND o.close_date <= %(at)s::date
          AND (d.at, 'opportunity', o.id) < (%(at)s, %(kind)s, %(id)s)
        ORDER BY o.close_date DESC, o.id DESC LIMIT %(limit)s""",
    "subscription": """
        SELECT d.at, 'subscription', s.id, s.plan,
               jsonb_build_object('mrr', s.mrr::text, 'currency', s.currency,
                                  'status', s.status, 'change_kind', s.change_kind,
                                  'period_start', s.period_start, 'period_end', s.period_end)
        FROM accounts_subscription s
        CROSS JOIN LATERAL (SELECT s.period_start::timestamp AT TIME ZONE 'UTC' AS at) d
        WHERE s.account_id = %(account)s AND s.period_start <= %(at)s::date
          AND (d.at, 'subscription', s.id) < (%(at)s, %(kind)s, %(id)s)
        ORDER BY s.period_start DESC, s.id DESC LIMIT %(limit)s""",
    "onboarding_plan": """
        SELECT d.at, 'onboarding_plan', p.id, p.name,
               jsonb_build_object('target_live_on', p.target_live_on,
                                  'completed_on', p.completed_on)
        FROM accounts_onboardingplan p
        CROSS JOIN LATERAL (SELECT p.started_on::timestamp AT TIME ZONE 'UTC' AS at) d
        WHERE p.account_id = %(account)s AND p.started_on <= %(at)s::date
          AND (d.at, 'onboarding_plan', p.id) < (%(at)s, %(kind)s, %(id)s)
        ORDER BY p.started_on DESC, p.id DESC LIMIT %(limit)s""",
    # A milestone is dated by its completion, or while open by its due date.
    "milestone": """
        SELECT d.at, 'milestone', m.id, m.name,
               jsonb_build_object('plan', m.plan_id, 'due_on', m.due_on,
                                  'completed_on', m.completed_on)
        FROM accounts_milestone m
        JOIN accounts_onboardingplan p ON p.id = m.plan_id
        CROSS JOIN LATERAL (
            SELECT COALESCE(m.completed_on, m.due_on)::timestamp AT TIME ZONE 'UTC' AS at
        ) d
        WHERE p.account_id = %(account)s AND d.at IS NOT NULL
          AND (d.at, 'milestone', m.id) < (%(at)s, %(kind)s, %(id)s)
        ORDER BY d.at DESC, m.id DESC LIMIT %(limit)s""",
    "usage_event": """
        SELECT u.occurred_at, 'usage_event', u.id, u.name,
               jsonb_build_object('value', u.value, 'contact', u.contact_id)
        FROM accounts_usageevent u
        WHERE u.account_id = %(account)s AND u.occurred_at <= %(at)s
          AND (u.occurred_at, 'usage_event', u.id) < (%(at)s, %(kind)s, %(id)s)
        ORDER BY u.occurred_at DESC, u.id DESC LIMIT %(limit)s""",
    "ticket": """
        SELECT t.opened_at, 'ticket', t.id, t.subject,
               jsonb_build_object('priority', t.priority, 'status', t.status,
                                  'first_response_at', t.first_response_at,
                                  'closed_at', t.closed_at)
        FROM accounts_ticket t
        WHERE t.account_id = %(account)s AND t.opened_at <= %(at)s
          AND (t.opened_at, 'ticket', t.id) < (%(at)s, %(kind)s, %(id)s)
        ORDER BY t.opened_at DESC, t.id DESC LIMIT %(limit)s""",
    "survey_response": """
        SELECT r.responded_at, 'survey_response', r.id, upper(r.kind) || ' ' || r.score,
               jsonb_build_object('kind', r.kind, 'score', r.score, 'moment', r.moment)
        FROM accounts_surveyresponse r
        WHERE r.account_id = %(account)s AND r.responded_at <= %(at)s
          AND (r.responded_at, 'survey_response', r.id) < (%(at)s, %(kind)s, %(id)s)
        ORDER BY r.responded_at DESC, r.id DESC LIMIT %(limit)s""",
    "touchpoint": """
        SELECT tp.occurred_at, 'touchpoint', tp.id, tp.kind,
               jsonb_build_object('kind', tp.kind, 'effort_minutes', tp.effort_minutes,
                                  'author', tp.author_id)
        FROM accounts_touchpoint tp
        WHERE tp.account_id = %(account)s AND tp.occurred_at <= %(at)s
          AND (tp.occurred_at, 'touchpoint', tp.id) < (%(at)s, %(kind)s, %(id)s)
        ORDER BY tp.occurred_at DESC, tp.id DESC LIMIT %(limit)s""",
    "lead": """
        SELECT l.converted_at, 'lead', l.id,
               COALESCE(NULLIF(l.name, ''), NULLIF(l.email, ''), l.company),
               jsonb_build_object('lead_source', l.lead_source, 'campaign', l.campaign)
        FROM accounts_lead l
        WHERE l.converted_account_id = %(account)s AND l.converted_at <= %(at)s
          AND (l.converted_at, 'lead', l.id) < (%(at)s, %(kind)s, %(id)s)
        ORDER BY l.converted_at DESC, l.id DESC LIMIT %(limit)s""",
}


def account_timeline(
    *,
    account_id: int,
    page_size: int,
    after: TimelinePosition | None = None,
    kinds: frozenset[str] | None = None,
) -> TimelinePage:
    """Every dated record of the account, newest first, one keyset page at a time."""
    account_get(account_id=account_id)
    wanted = [kind for kind in TIMELINE_KINDS if kinds is None or kind in kinds]
    if not wanted:
        return TimelinePage(entries=[], next=None)
    # The first page starts after (infinity, '', 0): every real entry sorts before it.
    start = after or TimelinePosition(dt.datetime.max.replace(tzinfo=dt.UTC), "", 0)
    union = " UNION ALL ".join(f"({_TIMELINE_BRANCHES[kind]})" for kind in wanted)
    sql = f"""
        SELECT at, kind, id, title, details
        FROM ({union}) AS entries(at, kind, id, title, details)
        ORDER BY at DESC, kind DESC, id DESC LIMIT %(limit)s
    """  # noqa: S608 - the SQL is ours; values are parameters
    params: dict[str, Any] = {
        "account": account_id,
        "at": start.at,
        "kind": start.kind,
        "id": start.id,
        "limit": page_size + 1,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    entries = [
        TimelineEntry(
            at=at,
            kind=kind,
            id=record_id,
            title=title or "",
            details=orjson.loads(details) if isinstance(details, str | bytes) else details,
        )
        for at, kind, record_id, title, details in rows[:page_size]
    ]
    following = None
    if len(rows) > page_size:
        last = entries[-1]
        following = TimelinePosition(last.at, last.kind, last.id)
    return TimelinePage(entries=entries, next=following)


# --- the 360 view --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Account360:
    account: Account
    children: list[dict[str, Any]]
    children_count: int
    pipeline: dict[str, Any]
    last_won_deal: dict[str, Any] | None
    onboarding: dict[str, Any] | None
    usage: dict[str, Any]
    open_tickets: dict[str, Any]
    last_surveys: dict[str, dict[str, Any] | None]
    revenue: dict[str, Any]


CHILDREN_SHOWN = 50


def account_360(*, account_id: int, today: dt.date | None = None) -> Account360:
    """The account with front-of-field and back-of-field summaries, in a handful of queries.

    Windows are in UTC: usage "last 30 days" is [now - 30 days, now), "previous 30 days"
    [now - 60 days, now - 30 days). MRR follows the revenue metrics' definition: the sum of
    the account's active or past-due terms with period_start <= today < period_end.
    """
    now = timezone.now()
    today = today or now.date()
    account = Account.objects.select_related("parent", "owner").filter(pk=account_id).first()
    if account is None:
        raise NotFound(f"No account with id {account_id}.")

    children: list[dict[str, Any]] = [
        dict(child)
        for child in Account.objects.filter(parent_id=account_id)
        .order_by("name", "id")
        .values("id", "name", "lifecycle_stage", "segment")[: CHILDREN_SHOWN + 1]
    ]
    children_count = len(children)
    if children_count > CHILDREN_SHOWN:
        children_count = Account.objects.filter(parent_id=account_id).count()
        children = children[:CHILDREN_SHOWN]

    opportunities = Opportunity.objects.filter(account_id=account_id)
    pipeline = opportunities.aggregate(
        open_count=Count("id", filter=Q(status=Opportunity.Status.OPEN)),
        open_amount=Sum("amount", filter=Q(status=Opportunity.Status.OPEN), default=Decimal(0)),
    )
    won = (
        opportunities.filter(status=Opportunity.Status.WON)
        .order_by(F("close_date").desc(nulls_last=True), "-id")
        .values("id", "name", "kind", "amount", "close_date")
        .first()
    )
    last_won_deal = dict(won) if won is not None else None

    plan = (
        OnboardingPlan.objects.filter(account_id=account_id)
        .annotate(
            milestones_total=Count("milestones"),
            milestones_done=Count("milestones", filter=Q(milestones__completed_on__isnull=False)),
            milestones_overdue=Count(
                "milestones",
                filter=Q(milestones__completed_on__isnull=True, milestones__due_on__lt=today),
            ),
        )
        .order_by("-started_on", "-id")
        .first()
    )
    onboarding = None
    if plan is not None:
        onboarding = {
            "plan": plan.id,
            "name": plan.name,
            "started_on": plan.started_on,
            "target_live_on": plan.target_live_on,
            "completed_on": plan.completed_on,
            "milestones_total": plan.milestones_total,
            "milestones_done": plan.milestones_done,
            "milestones_overdue": plan.milestones_overdue,
        }

    last_30 = Q(occurred_at__gte=now - dt.timedelta(days=30), occurred_at__lt=now)
    previous_30 = Q(
        occurred_at__gte=now - dt.timedelta(days=60), occurred_at__lt=now - dt.timedelta(days=30)
    )
    usage = UsageEvent.objects.filter(
        account_id=account_id, occurred_at__gte=now - dt.timedelta(days=60), occurred_at__lt=now
    ).aggregate(
        events_last_30_days=Count("id", filter=last_30),
        value_last_30_days=Sum("value", filter=last_30, default=0.0),
        events_previous_30_days=Count("id", filter=previous_30),
        value_previous_30_days=Sum("value", filter=previous_30, default=0.0),
        last_event_at=Max("occurred_at"),
    )

    by_priority = dict(
        Ticket.objects.filter(account_id=account_id, status__in=OPEN_TICKET_STATUSES)
        .values_list("priority")
        .annotate(count=Count("id"))
        .order_by()
    )
    open_tickets = {
        "total": sum(by_priority.values()),
        "by_priority": {
            priority.value: by_priority.get(priority.value, 0) for priority in Ticket.Priority
        },
    }

    latest_surveys = {
        survey["kind"]: survey
        for survey in SurveyResponse.objects.filter(account_id=account_id)
        .order_by("kind", "-responded_at", "-id")
        .distinct("kind")
        .values("kind", "score", "moment", "responded_at")
    }
    last_surveys: dict[str, dict[str, Any] | None] = {
        kind.value: (
            {key: value for key, value in latest_surveys[kind.value].items() if key != "kind"}
            if kind.value in latest_surveys
            else None
        )
        for kind in SurveyResponse.Kind
    }

    in_force = Subscription.in_force_on(today)
    revenue = Subscription.objects.filter(account_id=account_id).aggregate(
        current_mrr=Sum("mrr", filter=in_force, default=Decimal(0)),
        next_renewal_on=Min("period_end", filter=in_force & Q(period_end__isnull=False)),
        terms_in_force=Count("id", filter=in_force),
    )
    revenue["currency"] = current_tenant().currency

    return Account360(
        account=account,
        children=children,
        children_count=children_count,
        pipeline=pipeline,
        last_won_deal=last_won_deal,
        onboarding=onboarding,
        usage=usage,
        open_tickets=open_tickets,
        last_surveys=last_surveys,
        revenue=revenue,
    )


# --- saved views of the accounts list -------------------------------------------------------


def saved_views_visible(*, user_id: int) -> QuerySet[SavedView]:
    """The user's own views and the views others shared with the tenant, by name."""
    return (
        SavedView.objects.filter(Q(owner_id=user_id) | Q(shared=True))
        .select_related("owner")
        .order_by(Lower("name"), "id")
    )


def saved_view_get(*, user_id: int, saved_view_id: int) -> SavedView:
    found = saved_views_visible(user_id=user_id).filter(pk=saved_view_id).first()
    if found is None:
        raise NotFound(f"No saved view {saved_view_id}.")
    return found


def revenue_snapshot_get() -> RevenueSnapshot | None:
    return RevenueSnapshot.objects.filter(key="overview").first()
