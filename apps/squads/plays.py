"""Plays: create, activate, disable, dry-run, preview and run (the work of the play engine).

A run evaluates settled state (domain events arrive after commit; date triggers daily):
trigger matches within the audience -> per account: update the open item of this play if
there is one (dedup), else skip if the account was enrolled `reenrol_max` times within
`reenrol_window_days`, else create an item in the squad's queue. Each run leaves a PlayRun
(its audit), except event runs that matched nothing. Runs of one play are serialised by a
lock on its row, and the partial unique index on open items backs dedup up in the database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

from django.db import transaction
from django.db.models import Count, F, QuerySet
from django.utils import timezone

from apps.accounts.models import Account
from apps.accounts.services import account_update
from apps.squads import assignment, selectors
from apps.squads.events import PlayFired, WorkItemCreated
from apps.squads.models import (
    OPEN_STATUSES,
    Play,
    PlayRun,
    PlayStatus,
    Queue,
    WorkItem,
    WorkItemEvent,
    WorkItemStatus,
)
from apps.squads.priority import priorities
from apps.squads.triggers import EVENT_TRIGGERS, SCHEDULED_TRIGGERS, matching_account_ids
from fullfield import events
from fullfield.errors import Conflict

MATCHED_IDS_KEPT = 1000
PREVIEW_SAMPLE = 10


@transaction.atomic
def play_create(*, data: Mapping[str, Any]) -> Play:
    return Play.objects.create(**data)


@transaction.atomic
def play_update(*, play: Play, data: Mapping[str, Any]) -> Play:
    for name, value in data.items():
        setattr(play, name, value)
    play.save()
    return play


@transaction.atomic
def play_activate(*, play: Play) -> Play:
    play.status = PlayStatus.ACTIVE
    play.disabled_reason = ""
    play.save(update_fields=["status", "disabled_reason", "updated_at"])
    return play


@transaction.atomic
def play_to_draft(*, play: Play) -> Play:
    """Back to a draft: it creates no items; the items it already created stay open."""
    play.status = PlayStatus.DRAFT
    play.disabled_reason = ""
    play.save(update_fields=["status", "disabled_reason", "updated_at"])
    return play


@transaction.atomic
def play_disable(*, play: Play, reason: str, actor_user_id: int | None = None) -> int:
    """Disable a play; its open items are dismissed with the reason. Returns how many."""
    Play.objects.select_for_update().filter(pk=play.pk).update(
        status=PlayStatus.DISABLED, disabled_reason=reason, updated_at=timezone.now()
    )
    play.refresh_from_db()
    now = timezone.now()
    open_items = list(
        WorkItem.objects.filter(play=play, status__in=OPEN_STATUSES).values_list("pk", flat=True)
    )
    WorkItem.objects.filter(pk__in=open_items).update(
        status=WorkItemStatus.DISMISSED,
        dismissed_reason=f"Play disabled: {reason}",
        closed_at=now,
        snoozed_until=None,
        updated_at=now,
    )
    WorkItemEvent.objects.bulk_create(
        [
            WorkItemEvent(
                item_id=pk,
                kind=WorkItemEvent.Kind.DISMISSED,
                actor_id=actor_user_id,
                data={"reason": f"Play disabled: {reason}"},
            )
            for pk in open_items
        ]
    )
    return len(open_items)


def play_audience(*, play: Play) -> QuerySet[Account]:
    """The accounts a play may act on: its audience filter, within its squad's if asked."""
    accounts = Account.objects.exclude(lifecycle_stage="churned")
    saved = selectors.account_filter_q(
        {k: v for k, v in play.audience.items() if k != "squad_accounts_only"}
    )
    if saved is not None:
        accounts = accounts.filter(saved)
    if play.audience.get("squad_accounts_only"):
        accounts = accounts.filter(selectors.squad_accounts_q(play.squad))
    return accounts


@dataclasses.dataclass(frozen=True)
class Preview:
    audience_count: int
    matching_count: int
    sample: list[Account]


def play_preview(*, play: Play) -> Preview:
    """How many accounts the audience holds and the trigger matches now, with a sample."""
    audience = play_audience(play=play)
    matched = matching_account_ids(
        trigger=play.trigger, config=play.trigger_config, audience=audience
    )
    sample = list(Account.objects.filter(pk__in=sorted(matched)[:PREVIEW_SAMPLE]).order_by("pk"))
    return Preview(audience_count=audience.count(), matching_count=len(matched), sample=sample)


def play_dry_run(*, play: Play, account: Account) -> PlayRun:
    """What the play would do to one account now, recorded as a dry run; nothing else changes."""
    return play_run(play=play, cause=PlayRun.Cause.DRY_RUN, account_ids=[account.pk], dry_run=True)


@transaction.atomic
def play_run(
    *,
    play: Play,
    cause: str,
    event: str = "",
    account_ids: Collection[int] | None = None,
    payload: Mapping[str, Any] | None = None,
    dry_run: bool = False,
    today: dt.date | None = None,
) -> PlayRun:
    # Runs of one play wait for each other, so two events about one account make one item.
    play = Play.objects.select_for_update(of=("self",)).select_related("squad").get(pk=play.pk)
    audience = play_audience(play=play)
    if account_ids is not None:
        audience = audience.filter(pk__in=list(account_ids))
    matched = sorted(
        matching_account_ids(
            trigger=play.trigger,
            config=play.trigger_config,
            audience=audience,
            payload=payload,
            today=today,
        )
    )
    run = PlayRun(
        play=play,
        cause=cause,
        event=event,
        dry_run=dry_run or play.status != PlayStatus.ACTIVE,
        evaluated_count=len(account_ids) if account_ids is not None else audience.count(),
        matched_count=len(matched),
        matched_account_ids=matched[:MATCHED_IDS_KEPT],
    )
    decisions = _decide(play, matched)
    run.decisions = {str(account_id): decision for account_id, decision in decisions.items()}
    if not run.dry_run:
        created, updated = _apply(play, decisions)
        run.created_item_ids = created
        run.updated_item_ids = updated
        if play.set_lifecycle_stage:
            _set_stage(play, matched)
        if play.send_webhook and created:
            events.publish(
                PlayFired(
                    play_id=play.pk,
                    play_name=play.name,
                    squad_id=play.squad_id,
                    account_ids=[i for i, d in decisions.items() if d == "create"],
                    work_item_ids=created,
                )
            )
    if cause == PlayRun.Cause.EVENT and not matched:
        # Every ingest batch touches accounts: event runs that matched nothing are not kept,
        # or the audit would grow with ingest traffic instead of with what plays did.
        return run
    run.save()
    return run


def _decide(play: Play, matched: list[int]) -> dict[int, str]:
    """create / update / skip: re-enrolled N times in X days, per matched account."""
    if not matched:
        return {}
    open_accounts = set(
        WorkItem.objects.filter(
            play=play, account_id__in=matched, status__in=OPEN_STATUSES
        ).values_list("account_id", flat=True)
    )
    since = timezone.now() - dt.timedelta(days=play.reenrol_window_days)
    enrolments = dict(
        WorkItem.objects.filter(play=play, account_id__in=matched, created_at__gte=since)
        .values("account_id")
        .annotate(n=Count("id"))
        .values_list("account_id", "n")
    )
    decisions: dict[int, str] = {}
    for account_id in matched:
        if account_id in open_accounts:
            decisions[account_id] = "update"
        elif enrolments.get(account_id, 0) >= play.reenrol_max:
            decisions[account_id] = (
                f"skip: enrolled {enrolments[account_id]} times in the last "
                f"{play.reenrol_window_days} days (at most {play.reenrol_max})"
            )
        else:
            decisions[account_id] = "create"
    return decisions


def _apply(play: Play, decisions: Mapping[int, str]) -> tuple[list[int], list[int]]:
    to_update = [account_id for account_id, d in decisions.items() if d == "update"]
    to_create = [account_id for account_id, d in decisions.items() if d == "create"]
    template = play.item_template
    expansion = template.get("kind") == "expansion" or play.trigger == "expansion_signal"
    now = timezone.now()
    updated: list[int] = []
    if to_update:
        fresh = priorities(account_ids=to_update, expansion=expansion)
        items = list(
            WorkItem.objects.filter(play=play, account_id__in=to_update, status__in=OPEN_STATUSES)
        )
        for item in items:
            item.priority = fresh[item.account_id].value
            item.priority_basis = fresh[item.account_id].basis
            item.retriggered_count = F("retriggered_count") + 1
            item.updated_at = now
        WorkItem.objects.bulk_update(
            items, ["priority", "priority_basis", "retriggered_count", "updated_at"]
        )
        WorkItemEvent.objects.bulk_create(
            [WorkItemEvent(item_id=item.pk, kind=WorkItemEvent.Kind.RETRIGGERED) for item in items]
        )
        updated = [item.pk for item in items]
    if not to_create:
        return [], updated
    queue = Queue.objects.select_for_update().get(squad_id=play.squad_id)
    names = dict(Account.objects.filter(pk__in=to_create).values_list("pk", "name"))
    values = priorities(account_ids=to_create, expansion=expansion)
    due_in = template.get("due_in_days")
    checklist = [{"text": text, "done": False} for text in template.get("checklist", [])]
    items = []
    for account_id in to_create:
        assignee = assignment.assignee_for_new_item(queue)
        items.append(
            WorkItem(
                queue=queue,
                account_id=account_id,
                play=play,
                title=str(template.get("title", play.name)).replace(
                    "{account}", names.get(account_id, "")
                )[:300],
                description=template.get("description", ""),
                checklist=checklist,
                priority=values[account_id].value,
                priority_basis=values[account_id].basis,
                band_at_open=values[account_id].band,
                due_at=now + dt.timedelta(days=due_in) if due_in is not None else None,
                sla_due_at=now + dt.timedelta(hours=queue.sla_hours),
                status=WorkItemStatus.CLAIMED if assignee else WorkItemStatus.OPEN,
                assignee=assignee,
                claimed_at=now if assignee else None,
            )
        )
        if assignee is not None and queue.assignment_policy != "manual":
            # The policy counts open items from the database: make this one count.
            items[-1].save()
    unsaved = [item for item in items if item.pk is None]
    WorkItem.objects.bulk_create(unsaved)
    WorkItemEvent.objects.bulk_create(
        [
            WorkItemEvent(item_id=item.pk, kind=WorkItemEvent.Kind.CREATED, data={"play": play.pk})
            for item in items
        ]
    )
    for item in items:
        events.publish(
            WorkItemCreated(
                work_item_id=item.pk,
                account_id=item.account_id,
                squad_id=play.squad_id,
                play_id=play.pk,
                title=item.title,
                priority=str(item.priority),
            )
        )
    return [item.pk for item in items], updated


def _set_stage(play: Play, matched: list[int]) -> None:
    """The play's set-lifecycle-stage action, through the account record's own service (which
    publishes lifecycle_stage.changed)."""
    for account in Account.objects.filter(pk__in=matched).exclude(
        lifecycle_stage=play.set_lifecycle_stage
    ):
        account_update(account=account, data={"lifecycle_stage": play.set_lifecycle_stage})


def plays_evaluate_event(*, event: str, payload: Mapping[str, Any]) -> list[PlayRun]:
    """Run the active plays whose trigger this domain event concerns, on its accounts."""
    kinds = EVENT_TRIGGERS.get(event, ())
    if not kinds:
        return []
    if "account_ids" in payload:
        account_ids = [int(i) for i in payload["account_ids"]]
    elif "account_id" in payload:
        account_ids = [int(payload["account_id"])]
    else:
        return []
    plays = Play.objects.filter(status=PlayStatus.ACTIVE, trigger__in=kinds).order_by("id")
    return [
        play_run(
            play=play,
            cause=PlayRun.Cause.EVENT,
            event=event,
            account_ids=account_ids,
            payload=payload,
        )
        for play in plays
    ]


def plays_run_scheduled(*, today: dt.date | None = None) -> list[PlayRun]:
    """The daily pass: every active play with a date-based trigger, over its whole audience."""
    plays = Play.objects.filter(status=PlayStatus.ACTIVE, trigger__in=SCHEDULED_TRIGGERS)
    return [
        play_run(play=play, cause=PlayRun.Cause.SCHEDULE, today=today)
        for play in plays.order_by("id")
    ]


def play_ensure_not_disabled(*, play: Play) -> None:
    if play.status == PlayStatus.DISABLED:
        raise Conflict("This play is disabled; activate it again first.")
