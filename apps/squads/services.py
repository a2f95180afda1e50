"""Writes of squads: members, squads, queues, work items and cycles (plays: plays.py).

Item actions take the acting `Actor` and check it through `access.ensure_can_work`, so the
API, bulk actions and the UI share one rule. State changes of items are conditional UPDATEs
whose row count decides: two members claiming at once cannot both win.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import Account, Touchpoint
from apps.accounts.services import record_create
from apps.squads import assignment
from apps.squads.access import Actor, Forbidden, ensure_can_work, ensure_person
from apps.squads.events import WorkItemCompleted, WorkItemCreated
from apps.squads.models import (
    OPEN_STATUSES,
    Cycle,
    Member,
    PermissionLevel,
    Play,
    PlayStatus,
    Queue,
    Squad,
    SquadMembership,
    WorkItem,
    WorkItemEvent,
    WorkItemStatus,
)
from apps.squads.priority import account_band, priorities
from fullfield import events
from fullfield.errors import Conflict, DomainError, NotFound
from fullfield.users.models import User

Event = WorkItemEvent.Kind

# --- members ---------------------------------------------------------------------------------


@transaction.atomic
def member_create(*, user: User, data: Mapping[str, Any]) -> Member:
    if Member.objects.filter(user=user).exists():
        raise Conflict(
            f"{user} already has a member profile.", fields={"user": ["Already a member."]}
        )
    return Member.objects.create(user=user, **data)


@transaction.atomic
def member_update(*, member: Member, data: Mapping[str, Any]) -> Member:
    for name, value in data.items():
        setattr(member, name, value)
    member.save()
    return member


@transaction.atomic
def member_delete(*, member: Member) -> None:
    """Their open items go back to the pool of their queues."""
    WorkItem.objects.filter(assignee=member, status__in=OPEN_STATUSES).update(
        status=WorkItemStatus.OPEN, assignee=None, claimed_at=None, snoozed_until=None
    )
    member.delete()


# --- squads ----------------------------------------------------------------------------------


@transaction.atomic
def squad_create(*, data: Mapping[str, Any], queue: Mapping[str, Any] | None = None) -> Squad:
    squad = Squad.objects.create(**data)
    Queue.objects.create(squad=squad, **(queue or {}))
    return squad


@transaction.atomic
def squad_update(*, squad: Squad, data: Mapping[str, Any]) -> Squad:
    for name, value in data.items():
        setattr(squad, name, value)
    squad.save()
    return squad


@transaction.atomic
def squad_delete(*, squad: Squad) -> None:
    """Its accounts are left without a squad (the foreign key sets them NULL)."""
    squad.delete()


@transaction.atomic
def squad_member_add(
    *, squad: Squad, member: Member, role: str | None = None, is_lead: bool = False
) -> SquadMembership:
    membership, _ = SquadMembership.objects.update_or_create(
        squad=squad, member=member, defaults={"role": role or member.role, "is_lead": is_lead}
    )
    return membership


@transaction.atomic
def squad_member_remove(*, squad: Squad, member: Member) -> None:
    deleted, _ = SquadMembership.objects.filter(squad=squad, member=member).delete()
    if not deleted:
        raise NotFound(f"Member {member.pk} is not in squad {squad.pk}.")
    # Items they held in this squad's queue go back to its pool.
    WorkItem.objects.filter(queue__squad=squad, assignee=member, status__in=OPEN_STATUSES).update(
        status=WorkItemStatus.OPEN, assignee=None, claimed_at=None, snoozed_until=None
    )


@transaction.atomic
def squad_accounts_assign(
    *, squad: Squad, account_ids: Collection[int], remove: bool = False
) -> int:
    """Make these accounts the squad's explicitly covered ones (or remove them from it).

    Account.squad_id belongs to this app (its foreign key is a squads migration), so squads
    writes it; it feeds no score, so no rescoring is requested.
    """
    ids = set(account_ids)
    found = set(Account.objects.filter(pk__in=ids).values_list("pk", flat=True))
    if missing := ids - found:
        raise DomainError(
            "Unknown accounts.",
            fields={"account_ids": [f"No account with id {i}." for i in sorted(missing)]},
        )
    if remove:
        return Account.objects.filter(pk__in=ids, squad_id=squad.pk).update(squad_id=None)
    return Account.objects.filter(pk__in=ids).update(squad_id=squad.pk)


@transaction.atomic
def squad_replicate(*, source: Squad, name: str, mission: str | None = None) -> Squad:
    """A new squad from a successful one: its mission, plays (as drafts), queue policy and
    cycle cadence, with no members and no accounts."""
    if Squad.objects.filter(name=name).exists():
        raise Conflict("A squad with this name exists.", fields={"name": ["Already used."]})
    queue = source.queue
    squad = squad_create(
        data={
            "name": name,
            "mission": source.mission if mission is None else mission,
            "value_area": source.value_area,
            "cycle_length_days": source.cycle_length_days,
            "replicated_from": source,
        },
        queue={
            "assignment_policy": queue.assignment_policy,
            "policy_role": queue.policy_role,
            "sla_hours": queue.sla_hours,
        },
    )
    Play.objects.bulk_create(
        [
            Play(
                squad=squad,
                name=play.name,
                description=play.description,
                status=PlayStatus.DRAFT,
                trigger=play.trigger,
                trigger_config=play.trigger_config,
                audience=play.audience,
                item_template=play.item_template,
                set_lifecycle_stage=play.set_lifecycle_stage,
                reenrol_max=play.reenrol_max,
                reenrol_window_days=play.reenrol_window_days,
            )
            for play in source.plays.exclude(status=PlayStatus.DISABLED).order_by("id")
        ]
    )
    return squad


@transaction.atomic
def queue_update(*, queue: Queue, data: Mapping[str, Any]) -> Queue:
    for name, value in data.items():
        setattr(queue, name, value)
    queue.save()
    return queue


# --- work items ------------------------------------------------------------------------------


def _event(item_id: int, kind: str, actor: Actor | None, **data: Any) -> None:
    body = str(data.pop("body", ""))
    WorkItemEvent.objects.create(
        item_id=item_id,
        kind=kind,
        actor_id=actor.user_id if actor else None,
        body=body,
        data=data,
    )


def _published_created(item: WorkItem, squad_id: int) -> None:
    events.publish(
        WorkItemCreated(
            work_item_id=item.pk,
            account_id=item.account_id,
            squad_id=squad_id,
            play_id=item.play_id,
            title=item.title,
            priority=str(item.priority),
        )
    )


def _load(item_id: int) -> WorkItem:
    item = WorkItem.objects.select_related("queue").filter(pk=item_id).first()
    if item is None:
        raise NotFound(f"No work item with id {item_id}.")
    return item


def _ensure_capacity(member: Member, *, adding: int = 1) -> None:
    """Refuse when the member would go over capacity. Locks the member's row until the caller's
    transaction ends, so two claims by one member at once count one after the other: without
    the lock both would count the same load and both take the last free place."""
    capacity = (
        Member.objects.select_for_update().values_list("capacity", flat=True).get(pk=member.pk)
    )
    held = WorkItem.objects.filter(assignee=member, status__in=OPEN_STATUSES).count()
    if held + adding > capacity:
        raise Conflict(
            f"{member.user} holds {held} open items; their capacity is {capacity}.",
            fields={"assignee": ["At capacity."]},
        )


@transaction.atomic
def work_item_create(
    *,
    actor: Actor | None,
    queue: Queue,
    account: Account,
    title: str,
    description: str = "",
    checklist: Sequence[str] = (),
    due_at: dt.datetime | None = None,
    expansion: bool = False,
) -> WorkItem:
    """A work item put in a queue by hand (plays create theirs in bulk, see plays.py)."""
    if actor is not None:
        ensure_can_work(actor, squad_ids={queue.squad_id})
    now = timezone.now()
    priority = priorities(account_ids=[account.pk], expansion=expansion)[account.pk]
    locked_queue = Queue.objects.select_for_update().get(pk=queue.pk)
    assignee = assignment.assignee_for_new_item(locked_queue)
    item = WorkItem.objects.create(
        queue=queue,
        account=account,
        title=title,
        description=description,
        checklist=[{"text": text, "done": False} for text in checklist],
        priority=priority.value,
        priority_basis=priority.basis,
        band_at_open=priority.band,
        due_at=due_at,
        sla_due_at=now + dt.timedelta(hours=queue.sla_hours),
        status=WorkItemStatus.CLAIMED if assignee else WorkItemStatus.OPEN,
        assignee=assignee,
        claimed_at=now if assignee else None,
    )
    _event(item.pk, Event.CREATED, actor, assignee=assignee.pk if assignee else None)
    _published_created(item, queue.squad_id)
    return item


@transaction.atomic
def work_item_claim(*, actor: Actor, item_id: int) -> WorkItem:
    """Claim an open item. A conditional UPDATE decides: of two members claiming at once,
    the second waits for the first's row lock, re-reads the status and updates nothing."""
    member = ensure_person(actor)
    item = _load(item_id)
    ensure_can_work(actor, squad_ids={item.queue.squad_id})
    _ensure_capacity(member)
    now = timezone.now()
    claimed = WorkItem.objects.filter(pk=item_id, status=WorkItemStatus.OPEN).update(
        status=WorkItemStatus.CLAIMED, assignee=member, claimed_at=now, updated_at=now
    )
    if not claimed:
        raise _not_claimable(item_id)
    _event(item_id, Event.CLAIMED, actor)
    return _load(item_id)


def _not_claimable(item_id: int) -> Conflict:
    item = WorkItem.objects.select_related("assignee__user").get(pk=item_id)
    holder = f" by {item.assignee.user}" if item.assignee is not None else ""
    return Conflict(
        f"Work item {item_id} is already {item.status}{holder}; only open items can be claimed.",
        fields={"status": [item.status]},
    )


@transaction.atomic
def work_item_claim_next(*, actor: Actor, queue: Queue) -> WorkItem | None:
    """Claim the queue's most valuable open item. Rows another claimer holds are skipped
    (`FOR UPDATE SKIP LOCKED`), so many members pulling from one queue never wait or collide."""
    member = ensure_person(actor)
    ensure_can_work(actor, squad_ids={queue.squad_id})
    _ensure_capacity(member)
    item = (
        WorkItem.objects.select_for_update(skip_locked=True)
        .filter(queue=queue, status=WorkItemStatus.OPEN)
        .order_by("-priority", "id")
        .first()
    )
    if item is None:
        return None
    now = timezone.now()
    WorkItem.objects.filter(pk=item.pk).update(
        status=WorkItemStatus.CLAIMED, assignee=member, claimed_at=now, updated_at=now
    )
    _event(item.pk, Event.CLAIMED, actor)
    return _load(item.pk)


def _transition(
    item_id: int, *, from_statuses: Collection[str], **changes: Any
) -> tuple[WorkItem, bool]:
    changes.setdefault("updated_at", timezone.now())
    changed = WorkItem.objects.filter(pk=item_id, status__in=list(from_statuses)).update(**changes)
    return _load(item_id), bool(changed)


def _refuse(item: WorkItem, action: str) -> Conflict:
    return Conflict(
        f"Work item {item.pk} is {item.status}; it cannot be {action}.",
        fields={"status": [item.status]},
    )


@transaction.atomic
def work_item_release(*, actor: Actor, item_id: int) -> WorkItem:
    """Give a claimed or snoozed item back to the pool (its holder, or a manager)."""
    item = _load(item_id)
    ensure_can_work(actor, squad_ids={item.queue.squad_id})
    if not actor.at_least(PermissionLevel.MANAGER) and (
        actor.member is None or item.assignee_id != actor.member.pk
    ):
        raise Forbidden("Only the item's holder or a manager can release it.")
    item, changed = _transition(
        item_id,
        from_statuses=[WorkItemStatus.CLAIMED, WorkItemStatus.SNOOZED],
        status=WorkItemStatus.OPEN,
        assignee=None,
        claimed_at=None,
        snoozed_until=None,
    )
    if not changed:
        raise _refuse(item, "released")
    _event(item_id, Event.RELEASED, actor)
    return item


@transaction.atomic
def work_item_assign(*, actor: Actor, item_id: int, member: Member) -> WorkItem:
    item = _load(item_id)
    ensure_can_work(actor, squad_ids={item.queue.squad_id})
    if not SquadMembership.objects.filter(squad_id=item.queue.squad_id, member=member).exists():
        raise DomainError(
            f"{member.user} is not in this item's squad.",
            fields={"assignee": ["Not a member of the item's squad."]},
        )
    if item.assignee_id != member.pk:
        _ensure_capacity(member)
    item, changed = _transition(
        item_id,
        from_statuses=[WorkItemStatus.OPEN, WorkItemStatus.CLAIMED],
        status=WorkItemStatus.CLAIMED,
        assignee=member,
        claimed_at=timezone.now(),
    )
    if not changed:
        raise _refuse(item, "assigned")
    _event(item_id, Event.ASSIGNED, actor, assignee=member.pk)
    return item


@transaction.atomic
def work_item_snooze(*, actor: Actor, item_id: int, until: dt.datetime) -> WorkItem:
    if until <= timezone.now():
        raise DomainError("Snooze until a time in the future.", fields={"until": ["In the past."]})
    item = _load(item_id)
    ensure_can_work(actor, squad_ids={item.queue.squad_id})
    item, changed = _transition(
        item_id,
        from_statuses=[WorkItemStatus.OPEN, WorkItemStatus.CLAIMED, WorkItemStatus.SNOOZED],
        status=WorkItemStatus.SNOOZED,
        snoozed_until=until,
    )
    if not changed:
        raise _refuse(item, "snoozed")
    _event(item_id, Event.SNOOZED, actor, until=until.isoformat())
    return item


@transaction.atomic
def work_items_wake(*, now: dt.datetime | None = None) -> int:
    """Snoozed items whose time has come go back to their holder, or to the pool."""
    now = now or timezone.now()
    due = list(
        WorkItem.objects.select_for_update(skip_locked=True)
        .filter(status=WorkItemStatus.SNOOZED, snoozed_until__lte=now)
        .values_list("pk", "assignee_id")
    )
    held = [pk for pk, assignee in due if assignee is not None]
    pooled = [pk for pk, assignee in due if assignee is None]
    WorkItem.objects.filter(pk__in=held).update(
        status=WorkItemStatus.CLAIMED, snoozed_until=None, updated_at=now
    )
    WorkItem.objects.filter(pk__in=pooled).update(
        status=WorkItemStatus.OPEN, snoozed_until=None, updated_at=now
    )
    WorkItemEvent.objects.bulk_create([WorkItemEvent(item_id=pk, kind=Event.WOKE) for pk, _ in due])
    return len(due)


@transaction.atomic
def work_item_complete(
    *, actor: Actor, item_id: int, outcome: str, effort_minutes: int, notes: str = ""
) -> WorkItem:
    """Done: the outcome and effort become a touchpoint on the account's timeline (a cost in
    its ROI), and subscribers hear `work_item.completed`."""
    member = ensure_person(actor)
    item = _load(item_id)
    ensure_can_work(actor, squad_ids={item.queue.squad_id})
    now = timezone.now()
    item, changed = _transition(
        item_id,
        from_statuses=OPEN_STATUSES,
        status=WorkItemStatus.DONE,
        assignee=item.assignee or member,
        closed_at=now,
        snoozed_until=None,
        outcome=outcome,
        effort_minutes=effort_minutes,
        band_at_close=account_band(account_id=item.account_id),
    )
    if not changed:
        raise _refuse(item, "completed")
    touchpoint = record_create(
        model=Touchpoint,
        data={
            "account_id": item.account_id,
            "kind": Touchpoint.Kind.WORK_ITEM,
            "occurred_at": now,
            "author_id": actor.user_id,
            "effort_minutes": effort_minutes,
            "notes": f"{item.title}: {outcome}" + (f"\n{notes}" if notes else ""),
            "source_system": "squads",
            "external_id": f"work-item-{item.pk}",
        },
    )
    WorkItem.objects.filter(pk=item.pk).update(touchpoint_id=touchpoint.pk)
    item.touchpoint_id = touchpoint.pk
    _event(item_id, Event.COMPLETED, actor, outcome=outcome, effort_minutes=effort_minutes)
    events.publish(
        WorkItemCompleted(
            work_item_id=item.pk,
            account_id=item.account_id,
            squad_id=item.queue.squad_id,
            play_id=item.play_id,
            outcome=outcome,
            effort_minutes=effort_minutes,
            completed_by=actor.user_id,
        )
    )
    return item


@transaction.atomic
def work_item_dismiss(*, actor: Actor | None, item_id: int, reason: str) -> WorkItem:
    item = _load(item_id)
    if actor is not None:
        ensure_can_work(actor, squad_ids={item.queue.squad_id})
    item, changed = _transition(
        item_id,
        from_statuses=OPEN_STATUSES,
        status=WorkItemStatus.DISMISSED,
        closed_at=timezone.now(),
        snoozed_until=None,
        dismissed_reason=reason,
    )
    if not changed:
        raise _refuse(item, "dismissed")
    _event(item_id, Event.DISMISSED, actor, reason=reason)
    return item


@transaction.atomic
def work_item_comment(*, actor: Actor, item_id: int, body: str) -> WorkItemEvent:
    item = _load(item_id)
    ensure_can_work(actor, squad_ids={item.queue.squad_id})
    return WorkItemEvent.objects.create(
        item=item, kind=Event.COMMENTED, actor_id=actor.user_id, body=body
    )


@transaction.atomic
def work_item_checklist_update(*, actor: Actor, item_id: int, done: Sequence[bool]) -> WorkItem:
    item = _load(item_id)
    ensure_can_work(actor, squad_ids={item.queue.squad_id})
    if len(done) != len(item.checklist):
        raise DomainError(
            f"The checklist has {len(item.checklist)} entries.",
            fields={"done": [f"Give {len(item.checklist)} values."]},
        )
    item.checklist = [
        {**entry, "done": flag} for entry, flag in zip(item.checklist, done, strict=True)
    ]
    item.save(update_fields=["checklist", "updated_at"])
    return item


# --- bulk ------------------------------------------------------------------------------------

BULK_MAX_ITEMS = 500


@dataclass
class BulkResult:
    succeeded: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    # The HTTP status each refusal maps to (403 not allowed, 404 not found, 409 conflict).
    failed_status: dict[int, int] = field(default_factory=dict)


def work_items_bulk(
    *, actor: Actor, action: str, item_ids: Sequence[int], params: Mapping[str, Any]
) -> BulkResult:
    """One action on many items, item by item: each succeeds or fails on its own, with why.

    Members may bulk-act on their own squads' items; an item of another squad or another
    tenant is reported as not found or forbidden, never touched.
    """
    result = BulkResult()
    for item_id in dict.fromkeys(item_ids):
        try:
            with transaction.atomic():
                if action == "claim":
                    work_item_claim(actor=actor, item_id=item_id)
                elif action == "assign":
                    work_item_assign(actor=actor, item_id=item_id, member=params["assignee"])
                elif action == "snooze":
                    work_item_snooze(actor=actor, item_id=item_id, until=params["until"])
                elif action == "release":
                    work_item_release(actor=actor, item_id=item_id)
                elif action == "complete":
                    work_item_complete(
                        actor=actor,
                        item_id=item_id,
                        outcome=params["outcome"],
                        effort_minutes=params.get("effort_minutes", 0),
                    )
                elif action == "dismiss":
                    work_item_dismiss(actor=actor, item_id=item_id, reason=params["reason"])
                else:
                    raise DomainError(f"Unknown bulk action {action!r}.")
        except DomainError as error:
            result.failed[item_id] = error.message
            result.failed_status[item_id] = error.status_code
        else:
            result.succeeded.append(item_id)
    return result


# --- cycles ----------------------------------------------------------------------------------


@transaction.atomic
def cycle_create(*, squad: Squad, data: Mapping[str, Any]) -> Cycle:
    cycle = Cycle(squad=squad, **data)
    _check_cycle(cycle)
    cycle.save()
    return cycle


@transaction.atomic
def cycle_update(*, cycle: Cycle, data: Mapping[str, Any]) -> Cycle:
    if cycle.status == Cycle.Status.CLOSED:
        raise Conflict("A closed cycle is a record of what happened; it cannot change.")
    for name, value in data.items():
        setattr(cycle, name, value)
    _check_cycle(cycle)
    cycle.save()
    return cycle


def _check_cycle(cycle: Cycle) -> None:
    if cycle.ends_on < cycle.starts_on:
        raise DomainError(
            "A cycle ends on or after its start.", fields={"ends_on": ["Before starts_on."]}
        )
    if cycle.status == Cycle.Status.ACTIVE:
        others = Cycle.objects.filter(squad_id=cycle.squad_id, status=Cycle.Status.ACTIVE)
        if others.exclude(pk=cycle.pk).exists():
            raise Conflict("The squad already has an active cycle; close it first.")


@transaction.atomic
def cycle_close(*, cycle: Cycle, lessons: str) -> Cycle:
    """Close a cycle: its outcome is measured now from the squad's own figures."""
    from apps.squads.scorecards import squad_scorecard

    if cycle.status == Cycle.Status.CLOSED:
        raise Conflict("This cycle is already closed.")
    # A cycle's end date is its last day; a scorecard's end is exclusive.
    card = squad_scorecard(
        squad=cycle.squad, start=cycle.starts_on, end=cycle.ends_on + dt.timedelta(days=1)
    )
    cycle.outcome = card.as_outcome()
    cycle.lessons = lessons
    cycle.status = Cycle.Status.CLOSED
    cycle.save()
    return cycle


def member_for_user_id(*, user_id: int) -> Member:
    member = Member.objects.filter(user_id=user_id).first()
    if member is None:
        raise NotFound(f"User {user_id} has no member profile.")
    return member


def open_item_exists(*, play_id: int, account_id: int) -> bool:
    return WorkItem.objects.filter(
        Q(play_id=play_id) & Q(account_id=account_id) & Q(status__in=OPEN_STATUSES)
    ).exists()
