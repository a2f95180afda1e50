"""A CSV import run by a real Celery worker process, reading the file both processes share."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from apps.accounts.models import Account
from apps.integrations.imports.services import csv_import_create, csv_import_enqueue
from apps.integrations.models import Job
from fullfield.tenancy.models import Tenant
from tests.fixtures import WorkerProcess
from tests.polling import wait_until

pytestmark = pytest.mark.worker

CONTENT = (
    "external_id,name,segment\n"
    "A-1,Acme,smb\n"
    "A-2,=cmd|' /C calc'!A0,smb\n"
    "A-3,,smb\n"  # a new account needs a name
    "A-4,Initech,enterprise\n"
)


def remove_files(job: Job) -> None:
    """The worker shares the real MEDIA_ROOT with this process; leave nothing behind there."""
    for name in (job.upload.name, job.rejected_rows.name):
        if name:
            default_storage.delete(name)
            with contextlib.suppress(OSError):
                Path(default_storage.path(name)).parent.rmdir()


def test_a_worker_imports_an_upload_once_even_when_the_message_comes_twice(
    committed_tenant: Tenant, celery_worker_process: WorkerProcess, django_db_blocker: Any
) -> None:
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        job = csv_import_create(
            upload=SimpleUploadedFile("accounts.csv", CONTENT.encode(), "text/csv"),
            entity="accounts",
            mapping=None,
            dry_run=False,
            source_system="crm",
            api_key=None,
            created_by_id=None,
            queue=celery_worker_process.queue,
        )
        # A redelivered message: the worker must find the job claimed or finished.
        csv_import_enqueue(job_id=job.pk, queue=celery_worker_process.queue)

    def current() -> Job:
        with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
            return Job.objects.get(pk=job.pk)

    def task_results() -> list[str]:
        return [
            line.rsplit(": ", 1)[-1]
            for line in celery_worker_process.log().splitlines()
            if "integrations.csv_import_run[" in line and " succeeded in " in line
        ]

    try:
        wait_until(
            lambda: current().status not in ("queued", "running") and len(task_results()) >= 2,
            timeout=60,
            explain=celery_worker_process.log,
        )
        finished = current()

        assert (finished.status, finished.total, finished.processed) == ("partial", 4, 4)
        assert (finished.accepted, finished.duplicates, finished.rejected) == (3, 0, 1)
        assert finished.errors == [
            {"row": 4, "field": "name", "message": "This field is required to create a record."}
        ]
        # The first message ran the import; the second found it finished and did nothing.
        assert task_results()[-2:] == ["'partial'", "None"]
        with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
            names = dict(Account.objects.values_list("external_id", "name"))
            with default_storage.open(str(finished.rejected_rows.name)) as rejected:
                lines = rejected.read().decode("utf-8-sig").splitlines()
        assert names == {"A-1": "Acme", "A-2": "=cmd|' /C calc'!A0", "A-4": "Initech"}
        assert lines == [
            "row,column,message,external_id,name,segment",
            "4,name,This field is required to create a record.,A-3,,smb",
        ]
    finally:
        remove_files(current())


def test_a_dry_run_on_a_worker_counts_rows_and_writes_nothing(
    committed_tenant: Tenant, celery_worker_process: WorkerProcess, django_db_blocker: Any
) -> None:
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        job = csv_import_create(
            upload=SimpleUploadedFile("accounts.csv", CONTENT.encode(), "text/csv"),
            entity="accounts",
            mapping=None,
            dry_run=True,
            source_system=None,
            api_key=None,
            created_by_id=None,
            queue=celery_worker_process.queue,
        )

    def current() -> Job:
        with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
            return Job.objects.get(pk=job.pk)

    try:
        wait_until(
            lambda: current().status not in ("queued", "running"),
            timeout=60,
            explain=celery_worker_process.log,
        )
        finished = current()

        assert (finished.status, finished.processed, finished.total) == ("partial", 4, 4)
        assert (finished.accepted, finished.rejected) == (3, 1)
        with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
            assert not Account.objects.exists()
    finally:
        remove_files(current())
