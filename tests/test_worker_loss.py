"""A worker killed (SIGKILL) in the middle of a task: the work is finished by another worker,
every row stored exactly once. Real worker processes, real Redis, real PostgreSQL."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from apps.accounts.models import Account
from apps.integrations.imports.lease import csv_imports_resume
from apps.integrations.imports.services import csv_import_create
from apps.integrations.jobs.api import JobSerializer
from apps.integrations.models import Job
from fullfield.tenancy.models import Tenant
from tests.fixtures import WorkerProcess, running_celery_worker

pytestmark = pytest.mark.worker

ROWS = 30_000


def _csv() -> bytes:
    lines = ["external_id,name,segment"]
    lines += [f"K-{n},Company {n},smb" for n in range(ROWS)]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def in_tenant(committed_tenant: Tenant, django_db_blocker: Any) -> Callable[..., Any]:
    """Run a function inside the committed tenant, with database access."""

    def call(function: Callable[[], Any]) -> Any:
        with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
            return function()

    return call


@contextlib.contextmanager
def import_on(worker: WorkerProcess, in_tenant: Callable[..., Any]) -> Iterator[int]:
    job = in_tenant(
        lambda: csv_import_create(
            upload=SimpleUploadedFile("accounts.csv", _csv(), "text/csv"),
            entity="accounts",
            mapping=None,
            dry_run=False,
            source_system="crm",
            api_key=None,
            created_by_id=None,
            queue=worker.queue,
        )
    )
    try:
        yield job.pk
    finally:
        finished = in_tenant(lambda: Job.objects.get(pk=job.pk))
        for name in (finished.upload.name, finished.rejected_rows.name):
            if name:
                default_storage.delete(name)
                with contextlib.suppress(OSError):
                    Path(default_storage.path(name)).parent.rmdir()


def kill_mid_import(worker: WorkerProcess, job_id: int, in_tenant: Callable[..., Any]) -> None:
    deadline = time.monotonic() + 120
    while True:
        job = in_tenant(lambda: Job.objects.get(pk=job_id))
        if job.status == Job.Status.RUNNING and 0 < job.processed < ROWS:
            break
        assert job.status in (Job.Status.QUEUED, Job.Status.RUNNING), (job.status, worker.log())
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.05)
    worker.process.send_signal(signal.SIGKILL)
    worker.process.wait(timeout=30)


def wait_until_finished(job_id: int, in_tenant: Callable[..., Any], log: Callable[[], str]) -> Job:
    deadline = time.monotonic() + 180
    while (job := in_tenant(lambda: Job.objects.get(pk=job_id))).status in ("queued", "running"):
        assert time.monotonic() < deadline, log()
        time.sleep(0.3)
    return job


def assert_every_row_stored_once(job: Job, in_tenant: Callable[..., Any]) -> None:
    assert job.status == Job.Status.SUCCEEDED
    assert (job.total, job.processed, job.rejected) == (ROWS, ROWS, 0)
    assert job.accepted + job.duplicates == ROWS
    assert job.parameters.get("restarts") == 1
    ids = in_tenant(lambda: list(Account.objects.values_list("external_id", flat=True)))
    assert len(ids) == ROWS and set(ids) == {f"K-{n}" for n in range(ROWS)}


def test_an_import_whose_worker_is_killed_is_shown_stalled_and_resumed_by_the_sweep(
    committed_tenant: Tenant, in_tenant: Callable[..., Any], tmp_path: Path
) -> None:
    lease = "2"
    with (
        running_celery_worker(tmp_path, FULLFIELD_IMPORT_LEASE_SECONDS=lease) as first,
        import_on(first, in_tenant) as job_id,
    ):
        kill_mid_import(first, job_id, in_tenant)
        time.sleep(int(lease) + 1)
        stalled = in_tenant(lambda: JobSerializer(Job.objects.get(pk=job_id)).data)
        assert stalled["status"] == "stalled"
        with running_celery_worker(
            tmp_path, queue=first.queue, FULLFIELD_IMPORT_LEASE_SECONDS=lease
        ) as second:
            # What beat's sweep does every minute in every tenant.
            assert in_tenant(lambda: csv_imports_resume(queue=second.queue)) == [job_id]
            job = wait_until_finished(job_id, in_tenant, second.log)
            assert in_tenant(lambda: csv_imports_resume(queue=second.queue)) == []
        assert_every_row_stored_once(job, in_tenant)
    sweep = settings.CELERY_BEAT_SCHEDULE["resume-stalled-csv-imports"]
    assert sweep["args"] == ["integrations.csv_imports_resume"]
    assert float(sweep["schedule"]) <= 60  # type: ignore[arg-type]


def test_a_task_whose_worker_is_killed_is_handed_to_another_worker_by_the_broker(
    committed_tenant: Tenant, in_tenant: Callable[..., Any], tmp_path: Path
) -> None:
    """acks_late: the killed worker never acknowledged the message, so Redis hands it out again
    once the visibility timeout (here 3 s) has passed, with no sweep involved."""
    with (
        running_celery_worker(tmp_path, CELERY_VISIBILITY_TIMEOUT_SECONDS="3") as first,
        import_on(first, in_tenant) as job_id,
    ):
        kill_mid_import(first, job_id, in_tenant)
        with running_celery_worker(
            tmp_path, queue=first.queue, CELERY_VISIBILITY_TIMEOUT_SECONDS="3"
        ) as second:
            job = wait_until_finished(job_id, in_tenant, second.log)
        assert_every_row_stored_once(job, in_tenant)
