"""Calibration requested through the API shape is fitted by a real Celery worker process."""

from __future__ import annotations

from typing import Any

import pytest
from django_tenants.utils import schema_context

from apps.scoring.calibration_runs import calibration_run_request
from apps.scoring.models import Calibration, CalibrationRun
from apps.scoring.tests.test_tasks_worker import wait_until
from fullfield.celery_app import app
from fullfield.tenancy.models import Tenant
from tests.fixtures import WorkerProcess

pytestmark = pytest.mark.worker


def test_a_requested_calibration_is_fitted_by_a_worker_process(
    committed_tenant: Tenant,
    celery_worker_process: WorkerProcess,
    django_db_blocker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The task sent when the request commits goes to this test's worker.
    monkeypatch.setitem(app.conf, "task_default_queue", celery_worker_process.queue)
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        run = calibration_run_request(horizon_days=60)
        assert run.status == CalibrationRun.Status.QUEUED

    def state() -> CalibrationRun:
        with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
            return CalibrationRun.objects.select_related("calibration").get(pk=run.pk)

    wait_until(lambda: state().status == CalibrationRun.Status.FINISHED, celery_worker_process)
    finished = state()
    assert finished.calibration is not None
    assert finished.calibration.status == Calibration.Status.INSUFFICIENT
    assert finished.calibration.horizon_days == 60
    assert finished.started_at is not None and finished.finished_at is not None
