"""Celery tasks of scoring: thin and idempotent; the work is in the services.

Freshness: a write publishes `accounts.touched`; the first touch in a quiet tenant schedules
one incremental pass DEBOUNCE_SECONDS later and every touch until that pass starts rides along
with it, so a burst of ingest costs one pass, and a score (and the account's ROI and CLV)
reflects an accepted event within the debounce plus one pass. The sweep catches marks whose
pass was never sent (broker down when the writer committed); the nightly pass lets windows
slide without new data.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.core.cache import cache

from apps.scoring import services
from apps.scoring.value import account_value_recompute

logger = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 2
DEBOUNCE_KEY = "scoring:incremental-pending"
# A pending key outlives a lost task by this long at most, then touches schedule again.
DEBOUNCE_KEY_TTL = 60
MARKED_TASK = "scoring.health_recompute_marked"
MAX_BATCHES_PER_RUN = 10


def _schedule_marked(countdown: float) -> bool:
    from fullfield.celery_app import app

    if not cache.add(DEBOUNCE_KEY, 1, timeout=DEBOUNCE_KEY_TTL):
        return False
    app.send_task(MARKED_TASK, countdown=countdown)
    return True


@shared_task(name="scoring.accounts_touched")
def accounts_touched(event: str = "", account_ids: list[int] | None = None, **_: Any) -> bool:
    """Subscribed to accounts.touched: schedule one debounced incremental pass per tenant."""
    return _schedule_marked(DEBOUNCE_SECONDS)


@shared_task(name=MARKED_TASK)
def health_recompute_marked() -> int:
    """Rescore the marked accounts, batch by batch; returns how many were scored."""
    # Touches from now on schedule a new pass: this one may already have claimed past them.
    cache.delete(DEBOUNCE_KEY)
    scored = 0
    for _ in range(MAX_BATCHES_PER_RUN):
        result = services.health_recompute_marked()
        # A touch may change ROI and CLV without moving the score (effort logged on a
        # touchpoint, a new term): the rescored accounts' value follows within the same pass.
        if result.accounts:
            account_value_recompute(account_ids=result.accounts)
        scored += result.scored
        if not result.scored and not services.health_marked_exist():
            break
    else:
        _schedule_marked(0)
    return scored


@shared_task(name=services.RECOMPUTE_TASK)
def health_recompute(full: bool = True, backfill_days: int = 0) -> int:
    """Rescore every account (a profile changed, or the nightly pass); optionally backfill."""
    if backfill_days:
        services.health_history_backfill(days=min(backfill_days, 180))
    scored = services.health_recompute().scored
    account_value_recompute()
    return scored


@shared_task(name="scoring.health_sweep")
def health_sweep(older_than_seconds: int = DEBOUNCE_KEY_TTL // 2) -> bool:
    """Beat, per tenant: schedule a pass for marks older than a pass's usual delay (their task
    was lost, or its worker died mid-pass and its transaction rolled back)."""
    if services.health_marked_exist(older_than_seconds=older_than_seconds):
        cache.delete(DEBOUNCE_KEY)
        return _schedule_marked(0)
    return False


@shared_task(name="scoring.calibration_run")
def calibration_run(run_id: int) -> str:
    """Fit a requested calibration; a run already taken (a redelivered message) is left alone."""
    from apps.scoring.calibration_runs import calibration_run_work

    run = calibration_run_work(run_id=run_id)
    return run.status if run is not None else "not queued"
