"""The CSV import task: given a job id, runs the import (see services.csv_import_run)."""

from __future__ import annotations

from celery import shared_task

from apps.integrations.imports.lease import csv_import_heartbeat, csv_imports_resume
from apps.integrations.imports.services import IMPORT_TASK, csv_import_run


# Celery has no type annotations: its decorator is untyped under mypy --strict.
@shared_task(name=IMPORT_TASK)  # type: ignore[untyped-decorator,unused-ignore]
def csv_import_run_task(job_id: int) -> str | None:
    with csv_import_heartbeat(job_id=job_id):
        job = csv_import_run(job_id=job_id)
    return job.status if job is not None else None


@shared_task(name="integrations.csv_imports_resume")
def csv_imports_resume_task() -> int:
    """Beat, per tenant (fullfield.fan_out): resume imports whose worker stopped."""
    return len(csv_imports_resume())
