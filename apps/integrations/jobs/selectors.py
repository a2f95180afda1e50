from __future__ import annotations

from django.db.models import QuerySet

from apps.integrations.models import Job
from fullfield.errors import NotFound


def job_list(*, kind: str | None = None, status: str | None = None) -> QuerySet[Job]:
    jobs = Job.objects.select_related("api_key", "created_by")
    if kind:
        jobs = jobs.filter(kind=kind)
    if status:
        jobs = jobs.filter(status=status)
    return jobs


def job_get(*, job_id: int) -> Job:
    """A job of the current tenant; another tenant's id is simply not found (its own schema)."""
    job = Job.objects.select_related("api_key", "created_by").filter(pk=job_id).first()
    if job is None:
        raise NotFound(f"No job {job_id}.")
    return job
