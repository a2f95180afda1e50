"""Celery tasks of accounts: thin; the work is in services."""

from __future__ import annotations

from celery import shared_task

from apps.accounts.field.adoption import PLAN_ADOPTION_REBUILD_TASK, plan_adoption_rebuild


@shared_task(name=PLAN_ADOPTION_REBUILD_TASK)
def plan_adoption_rebuild_task() -> int:
    """Beat, nightly per tenant (fullfield.fan_out), and on a report's request: rebuild the
    stored adoption days the field report reads. Returns the number of plans stored."""
    return plan_adoption_rebuild().plans
