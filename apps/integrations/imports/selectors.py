from __future__ import annotations

from apps.integrations.models import Job
from fullfield.errors import Conflict, NotFound


def csv_import_get(*, job_id: int) -> Job:
    """A CSV import of the current tenant; another tenant's id is not found (its own schema)."""
    job = (
        Job.objects.select_related("api_key", "created_by")
        .filter(pk=job_id, kind=Job.Kind.CSV_IMPORT)
        .first()
    )
    if job is None:
        raise NotFound(f"No CSV import {job_id}.")
    return job


def csv_import_rejected_rows_name(*, job_id: int) -> str:
    """The stored name of an import's rejected-rows file, once the import has finished."""
    job = csv_import_get(job_id=job_id)
    if job.status in (Job.Status.QUEUED, Job.Status.RUNNING):
        raise Conflict(
            f"Import {job_id} is {job.status}; its rejected rows are ready when it finishes."
        )
    if not job.rejected_rows:
        raise NotFound(
            f"Import {job_id} failed before it read any row, so it has no rejected rows; "
            "see its errors."
        )
    return str(job.rejected_rows.name)
