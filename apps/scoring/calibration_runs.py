"""Calibration in the background: a request is recorded at once and a Celery task does the fit.

A fit reads a year of history and may take longer than a request should, so asking for one
answers with a run (queued) that a worker takes (running) and ends (finished, with the stored
calibration and its report card, or failed, with why). Taking a run is a conditional UPDATE on
its status, so a redelivered task message never fits twice.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from apps.scoring.calibration import calibration_run
from apps.scoring.models import CalibrationRun, HealthProfile
from apps.scoring.services import health_profile_default_ensure
from fullfield.errors import DomainError, NotFound
from fullfield.users.models import User

logger = logging.getLogger(__name__)

CALIBRATION_TASK = "scoring.calibration_run"


def calibration_run_request(
    *, profile: HealthProfile | None = None, horizon_days: int = 30, user: User | None = None
) -> CalibrationRun:
    """Record a queued run and send its task once the request commits."""
    if not 1 <= horizon_days <= 365:
        raise DomainError("horizon_days must be 1 to 365.", fields={"horizon_days": ["1 to 365."]})
    from fullfield.celery_app import app

    with transaction.atomic():
        run = CalibrationRun.objects.create(
            profile=profile or health_profile_default_ensure(),
            horizon_days=horizon_days,
            requested_by=user,
        )
        transaction.on_commit(lambda: app.send_task(CALIBRATION_TASK, kwargs={"run_id": run.pk}))
    return run


def calibration_run_work(*, run_id: int) -> CalibrationRun | None:
    """Take a queued run and fit it; None when there is no such run or another took it."""
    taken = CalibrationRun.objects.filter(pk=run_id, status=CalibrationRun.Status.QUEUED).update(
        status=CalibrationRun.Status.RUNNING, started_at=timezone.now()
    )
    if not taken:
        return None
    run = CalibrationRun.objects.select_related("profile").get(pk=run_id)
    try:
        calibration = calibration_run(profile=run.profile, horizon_days=run.horizon_days)
    except DomainError as error:
        run.status = CalibrationRun.Status.FAILED
        run.error = error.message
    except Exception:
        logger.exception("calibration run %s failed", run_id)
        run.status = CalibrationRun.Status.FAILED
        run.error = "The fit failed on the server; the error is in the worker's log."
    else:
        run.status = CalibrationRun.Status.FINISHED
        run.calibration = calibration
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "calibration", "finished_at"])
    return run


def calibration_run_get(*, run_id: int) -> CalibrationRun:
    run = CalibrationRun.objects.select_related("calibration", "profile").filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"No calibration run with id {run_id}.")
    return run


def calibration_run_latest() -> CalibrationRun | None:
    return (
        CalibrationRun.objects.select_related("calibration", "profile")
        .order_by("-created_at", "-pk")
        .first()
    )
