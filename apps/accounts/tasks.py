"""Celery tasks of the account record: thin, idempotent, tenant-scoped (see fullfield.tasks)."""

from __future__ import annotations

from celery import shared_task

from apps.accounts.field.adoption import PLAN_ADOPTION_REBUILD_TASK, plan_adoption_rebuild
from apps.accounts.services import revenue


@shared_task(name=revenue.REFRESH_TASK)
def revenue_refresh() -> bool:
    """Bring the revenue columns and the revenue snapshot up to date when they are due (beat
    sends this every minute into each tenant; term writes send it after they commit)."""
    return revenue.revenue_refresh()


@shared_task(name=PLAN_ADOPTION_REBUILD_TASK)
def plan_adoption_rebuild_task() -> int:
    """Beat, nightly per tenant (fullfield.fan_out), and on a report's request: rebuild the
    stored adoption days the field report reads. Returns the number of plans stored."""
    return plan_adoption_rebuild().plans
