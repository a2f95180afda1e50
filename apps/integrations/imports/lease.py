"""Heartbeat leases on running CSV imports, and the sweep that resumes stalled ones.

While a worker runs an import, a thread of that worker renews a short lease in Redis. A
worker that dies (SIGKILL, lost machine) stops renewing it; once the lease has expired the
import is *stalled*: the job API says so, and the periodic sweep (beat -> fullfield.fan_out ->
integrations.csv_imports_resume in every tenant) sends the job's task again, so another worker
picks it up within about a lease plus a sweep interval instead of the broker's visibility
timeout. The task itself is safe to run twice (claim and advisory lock in the services).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache
from django_tenants.utils import schema_context

from apps.integrations.imports.services import csv_import_enqueue
from apps.integrations.models import Job
from fullfield.tenancy.context import current_schema

logger = logging.getLogger(__name__)


def _lease_key(job_id: int) -> str:
    return f"csv_import:lease:{job_id}"


def csv_import_lease_held(*, job_id: int) -> bool:
    return cache.get(_lease_key(job_id)) is not None


def csv_import_leases_held(*, job_ids: list[int]) -> set[int]:
    found = cache.get_many([_lease_key(job_id) for job_id in job_ids])
    return {job_id for job_id in job_ids if _lease_key(job_id) in found}


def is_stalled(job: Job, *, leased: bool) -> bool:
    return job.kind == Job.Kind.CSV_IMPORT and job.status == Job.Status.RUNNING and not leased


@contextmanager
def csv_import_heartbeat(*, job_id: int) -> Iterator[None]:
    """Hold the job's lease while the body runs, renewed by a thread every third of it."""
    seconds = settings.FULLFIELD_IMPORT_LEASE_SECONDS
    schema = current_schema()
    stop = threading.Event()

    def renew() -> None:
        # Cache keys carry the tenant schema, which is per thread.
        with schema_context(schema):
            while True:
                cache.set(_lease_key(job_id), "held", timeout=seconds)
                if stop.wait(seconds / 3):
                    break

    cache.set(_lease_key(job_id), "held", timeout=seconds)
    beat = threading.Thread(target=renew, name=f"csv-import-lease-{job_id}", daemon=True)
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join(timeout=5)
        cache.delete(_lease_key(job_id))


def csv_imports_resume(*, queue: str | None = None) -> list[int]:
    """Send the task of every running import whose lease has expired again; their ids."""
    running = list(
        Job.objects.filter(kind=Job.Kind.CSV_IMPORT, status=Job.Status.RUNNING).values_list(
            "pk", flat=True
        )
    )
    leased = csv_import_leases_held(job_ids=running)
    stalled = [job_id for job_id in running if job_id not in leased]
    for job_id in stalled:
        logger.warning("csv import %s stalled (its worker stopped); sending it again", job_id)
        csv_import_enqueue(job_id=job_id, queue=queue)
    return stalled
