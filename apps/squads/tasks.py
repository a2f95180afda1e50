"""Celery tasks of squads: thin, idempotent, given ids or event payloads; work in services."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.squads import plays, scorecards, services

PLAYS_EVALUATE_TASK = "squads.plays_evaluate"


@shared_task(name=PLAYS_EVALUATE_TASK)
def plays_evaluate(event: str, **payload: Any) -> int:
    """Subscribed to domain events (scores, touched accounts, lifecycle stages): runs the
    active plays those events concern. Dedup makes a redelivered event harmless."""
    return len(plays.plays_evaluate_event(event=event, payload=payload))


@shared_task(name="squads.plays_run_scheduled")
def plays_run_scheduled() -> int:
    """Beat, daily per tenant (fullfield.fan_out): the date-based triggers."""
    return len(plays.plays_run_scheduled())


@shared_task(name="squads.work_items_wake")
def work_items_wake() -> int:
    """Beat, every minute per tenant: snoozed items whose time has come wake up."""
    return services.work_items_wake()


@shared_task(name="squads.scorecards_refresh")
def scorecards_refresh() -> int:
    """Beat, every 5 minutes per tenant: measure and store every squad's scorecard, which the
    squad's page shows with the time it was measured."""
    return scorecards.squads_scorecards_refresh()
