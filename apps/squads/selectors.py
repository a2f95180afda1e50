"""Reads of squads: lists for the API, covered accounts, skill gaps and size guidance."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Case, Count, F, Q, QuerySet, Value, When
from django.utils import timezone

from apps.accounts.models import Account, Subscription
from apps.scoring.selectors import accounts_with_value
from apps.squads.models import (
    MISSION_TEMPLATES,
    OPEN_STATUSES,
    SQUAD_SIZE_MAX,
    SQUAD_SIZE_MIN,
    Cycle,
    Member,
    Play,
    PlayRun,
    Queue,
    Squad,
    SquadMembership,
    WorkItem,
    WorkItemEvent,
)
from fullfield.errors import NotFound

# Keys of a saved account filter, and the Account lookup each one becomes.
ACCOUNT_FILTER_LOOKUPS: dict[str, str] = {
    "segment": "segment__in",
    "region": "region__in",
    "tier": "tier__in",
    "industry": "industry__in",
    "lifecycle_stage": "lifecycle_stage__in",
}


def account_filter_q(saved: dict[str, object]) -> Q | None:
    """The Q of a saved account filter; None when it names nothing (matches no account)."""
    conditions = Q()
    named = False
    for key, lookup in ACCOUNT_FILTER_LOOKUPS.items():
        values = saved.get(key)
        if values:
            conditions &= Q(**{lookup: values if isinstance(values, list) else [values]})
            named = True
    return conditions if named else None


def squad_accounts_q(squad: Squad) -> Q:
    """Accounts a squad covers: assigned to it, or matching its saved filter."""
    covered = Q(squad_id=squad.pk)
    saved = account_filter_q(squad.account_filter)
    return covered | saved if saved is not None else covered


def squad_accounts(*, squad: Squad) -> QuerySet[Account]:
    return Account.objects.filter(squad_accounts_q(squad))


def squad_accounts_list(
    *, squad: Squad, bands: list[str] | None = None, renews_within_days: int | None = None
) -> QuerySet[Account]:
    """The squad's covered accounts with scoring's value figures, optionally only those in
    these health bands ("unscored" too) or with a term in force ending within the days."""
    accounts = squad_accounts(squad=squad)
    if bands:
        wanted = Q(health_band__in=[band for band in bands if band != "unscored"])
        if "unscored" in bands:
            wanted |= Q(health_score__isnull=True)
        accounts = accounts.filter(wanted)
    if renews_within_days is not None:
        today = timezone.now().date()
        ending = Subscription.objects.filter(
            Subscription.in_force_on(today),
            period_end__lte=today + dt.timedelta(days=renews_within_days),
        )
        accounts = accounts.filter(pk__in=ending.values("account_id"))
    return accounts_with_value(accounts)


def member_list() -> QuerySet[Member]:
    return Member.objects.select_related("user").annotate(
        open_items=Count("items", filter=Q(items__status__in=OPEN_STATUSES))
    )


def squad_list() -> QuerySet[Squad]:
    return Squad.objects.select_related("queue").prefetch_related("memberships__member__user")


def squad_get(*, squad_id: int) -> Squad:
    squad = squad_list().filter(pk=squad_id).first()
    if squad is None:
        raise NotFound(f"No squad with id {squad_id}.")
    return squad


@dataclass(frozen=True)
class SquadShape:
    size: int
    size_warning: str | None
    skill_gaps: list[str]


def squad_shape(*, squad: Squad) -> SquadShape:
    """Size guidance (6 to 10 people) and skill gaps (roles the mission needs, no member has)."""
    memberships: list[SquadMembership] = list(squad.memberships.all())
    size = len(memberships)
    warning = None
    if size < SQUAD_SIZE_MIN:
        warning = f"{size} members: a squad works best with {SQUAD_SIZE_MIN} to {SQUAD_SIZE_MAX}."
    elif size > SQUAD_SIZE_MAX:
        warning = (
            f"{size} members: above {SQUAD_SIZE_MAX} it is time to formalise and coordinate "
            "(split it or replicate it)."
        )
    present = {membership.role for membership in memberships}
    needed = MISSION_TEMPLATES.get(squad.value_area, ())
    return SquadShape(
        size=size, size_warning=warning, skill_gaps=[role for role in needed if role not in present]
    )


def queue_list() -> QuerySet[Queue]:
    return Queue.objects.select_related("squad").annotate(
        open_items=Count("items", filter=Q(items__status="open")),
        claimed_items=Count("items", filter=Q(items__status="claimed")),
        snoozed_items=Count("items", filter=Q(items__status="snoozed")),
    )


def work_item_list() -> QuerySet[WorkItem]:
    return WorkItem.objects.select_related("queue", "account", "assignee__user")


def work_items_of_member(*, member: Member) -> QuerySet[WorkItem]:
    """ "My items": what the member holds, across all their squads."""
    return work_item_list().filter(assignee=member, status__in=OPEN_STATUSES)


def work_item_events(*, item_id: int) -> QuerySet[WorkItemEvent]:
    return (
        WorkItemEvent.objects.filter(item_id=item_id).select_related("actor").order_by("at", "id")
    )


def play_list() -> QuerySet[Play]:
    return Play.objects.select_related("squad")


def play_run_list() -> QuerySet[PlayRun]:
    return PlayRun.objects.select_related("play")


def cycle_list() -> QuerySet[Cycle]:
    return Cycle.objects.select_related("squad")


def work_items_of_account(*, account_id: int) -> QuerySet[WorkItem]:
    """The account's open items, the most valuable first."""
    return (
        work_item_list()
        .select_related("queue__squad")
        .filter(account_id=account_id, status__in=OPEN_STATUSES)
        .order_by("-priority", "sla_due_at", "id")
    )


def member_of_user(*, user_id: int) -> Member | None:
    return Member.objects.filter(user_id=user_id).first()


@dataclass(frozen=True)
class SquadSla:
    squad_id: int
    squad_name: str
    sla_hours: int | None  # None: the squad has no queue
    open_items: int
    overdue: int  # open past their SLA time
    due_soon: int  # open, SLA time within the next 24 hours


def squads_sla_status(*, member: Member, now: datetime | None = None) -> list[SquadSla]:
    """For each squad the member belongs to: its open items and how many are past (or near)
    their SLA time, in one query."""
    now = now or timezone.now()
    open_q = Q(queue__items__status__in=OPEN_STATUSES)
    squads = (
        Squad.objects.filter(memberships__member=member)
        .select_related("queue")
        .annotate(
            open_items=Count("queue__items", filter=open_q),
            overdue=Count("queue__items", filter=open_q & Q(queue__items__sla_due_at__lt=now)),
            due_soon=Count(
                "queue__items",
                filter=open_q
                & Q(
                    queue__items__sla_due_at__gte=now,
                    queue__items__sla_due_at__lt=now + timedelta(hours=24),
                ),
            ),
        )
        .order_by("name")
    )
    return [
        SquadSla(
            squad_id=squad.pk,
            squad_name=squad.name,
            sla_hours=squad.queue.sla_hours if hasattr(squad, "queue") else None,
            open_items=squad.open_items,
            overdue=squad.overdue,
            due_soon=squad.due_soon,
        )
        for squad in squads
    ]


# --- triage ----------------------------------------------------------------------------------

TRIAGE_SORTS = ("priority", "sla")


def triage_items(
    *, member: Member | None, squad_ids: Collection[int], mine_only: bool, sort: str
) -> QuerySet[WorkItem]:
    """Open items to triage: the member's own, and (unless mine_only) those of these squads.

    Snoozed items come last; then by priority (expected loss or gain) and the SLA time, or by
    the SLA time first (sort="sla").
    """
    wanted = Q(assignee=member) if member is not None else Q(pk__in=[])
    if not mine_only:
        wanted |= Q(queue__squad_id__in=list(squad_ids))
    snoozed_last = Case(When(status="snoozed", then=Value(1)), default=Value(0))
    sla = F("sla_due_at").asc(nulls_last=True)
    order = (
        (snoozed_last, sla, "-priority", "id")
        if sort == "sla"
        else (snoozed_last, "-priority", sla, "id")
    )
    return (
        WorkItem.objects.filter(wanted, status__in=OPEN_STATUSES)
        .select_related("queue__squad", "account", "assignee__user")
        .order_by(*order)
    )


def triage_squads(*, member: Member | None, every_squad: bool) -> QuerySet[Squad]:
    """The squads whose queues a person triages: their own, or every squad for a manager or
    admin without squads of their own."""
    squads = Squad.objects.order_by("name")
    if member is not None and not every_squad:
        return squads.filter(memberships__member=member)
    return squads if every_squad else squads.none()


def squads_memberships(*, squad_ids: Collection[int]) -> QuerySet[SquadMembership]:
    """The members of these squads (who an item may be assigned to), by squad then name."""
    return (
        SquadMembership.objects.filter(squad_id__in=list(squad_ids))
        .select_related("squad", "member__user")
        .order_by("squad__name", "member__user__full_name", "member_id")
    )


def squad_overview_list(*, now: datetime | None = None) -> QuerySet[Squad]:
    """Every squad with its members (prefetched) and its queue's open and overdue items."""
    now = now or timezone.now()
    open_q = Q(queue__items__status__in=OPEN_STATUSES)
    return (
        squad_list()
        .annotate(
            open_items=Count("queue__items", filter=open_q),
            overdue=Count("queue__items", filter=open_q & Q(queue__items__sla_due_at__lt=now)),
        )
        .order_by("name")
    )


def member_open_loads(*, member_ids: Collection[int]) -> dict[int, int]:
    """Open items each of these members holds."""
    rows = (
        WorkItem.objects.filter(assignee_id__in=list(member_ids), status__in=OPEN_STATUSES)
        .values("assignee_id")
        .annotate(held=Count("id"))
    )
    return {row["assignee_id"]: row["held"] for row in rows}


def squad_cycles(*, squad: Squad) -> QuerySet[Cycle]:
    return Cycle.objects.filter(squad=squad).order_by("-starts_on", "-id")


def triage_counts(items: QuerySet[WorkItem], *, now: datetime) -> tuple[int, int]:
    """How many of these items there are, and how many are past their SLA time (one query)."""
    counts = items.order_by().aggregate(
        total=Count("id"), overdue=Count("id", filter=Q(sla_due_at__lt=now))
    )
    return counts["total"], counts["overdue"]
