"""A worker killed (SIGKILL) in the middle of a task: the work is finished by another worker,
exactly once: a CSV import (every row stored once), a health recompute (one correct score per
account) and a webhook delivery (acknowledged once by a real HTTP receiver). Real worker
processes, real Redis, real PostgreSQL."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from apps.accounts.models import Account
from apps.accounts.services import accounts_touch
from apps.integrations.imports.lease import csv_imports_resume
from apps.integrations.imports.services import csv_import_create
from apps.integrations.jobs.api import JobSerializer
from apps.integrations.models import Job, WebhookDelivery
from apps.integrations.webhooks.event_types import WEBHOOK_DISPATCH_TASK
from apps.integrations.webhooks.services import webhook_endpoint_create
from apps.scoring.models import HealthScore
from apps.scoring.services import health_recompute
from apps.scoring.tests.helpers import active_days_component, usage, use_components
from fullfield.celery_app import app
from fullfield.tenancy.models import Tenant
from tests.fixtures import WorkerProcess, database_url_for_tests, running_celery_worker
from tests.polling import wait_until

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


# --- a recompute and a webhook delivery, finished by a worker that was already running ------


@pytest.fixture
def tenant_connection(committed_tenant: Tenant) -> Iterator[psycopg.Connection[Any]]:
    """A second session on the test database, in the tenant's schema (a concurrent writer)."""
    with psycopg.connect(database_url_for_tests()) as connection:
        connection.execute(f'SET search_path TO "{committed_tenant.schema_name}"')
        yield connection


def _waiting_on_a_lock(statement: str) -> bool:
    with psycopg.connect(database_url_for_tests()) as probe:
        row = probe.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE %s",
            [f"%{statement}%"],
        ).fetchone()
    return bool(row and row[0])


def test_a_recompute_whose_worker_is_killed_is_finished_by_another_running_worker(
    committed_tenant: Tenant,
    in_tenant: Callable[..., Any],
    tenant_connection: psycopg.Connection[Any],
    tmp_path: Path,
) -> None:
    """No sweep sent by hand, no restart: the second worker, already running on the same queue,
    takes the unacknowledged pass over once the visibility timeout (3 s) has passed."""

    def world() -> list[int]:
        use_components(active_days_component())
        accounts = [Account.objects.create(name=f"Account {n}") for n in range(20)]
        for account in accounts:
            usage(account, 0)
        health_recompute()  # every account at 10 (one active day)
        for account in accounts:
            usage(account, 1)
            usage(account, 2)
        accounts_touch(account_ids=[account.pk for account in accounts])
        return [account.pk for account in accounts]

    account_ids = in_tenant(world)
    # Hold one score row, as a slow reader would: the first worker's pass blocks in its writes.
    tenant_connection.execute(
        "SELECT 1 FROM scoring_healthscore WHERE account_id = %s FOR UPDATE", [account_ids[7]]
    )
    visibility = {"CELERY_VISIBILITY_TIMEOUT_SECONDS": "3"}
    with running_celery_worker(tmp_path, **visibility) as first:
        in_tenant(lambda: app.send_task("scoring.health_recompute_marked", queue=first.queue))
        wait_until(lambda: _waiting_on_a_lock("INSERT INTO scoring_healthscore"), timeout=60)
        with running_celery_worker(tmp_path, queue=first.queue, **visibility) as second:
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(timeout=30)
            killed = time.monotonic()
            tenant_connection.rollback()  # the reader lets go

            def marked() -> int:
                return int(
                    in_tenant(
                        lambda: Account.objects.filter(rescore_requested_at__isnull=False).count()
                    )
                )

            wait_until(lambda: marked() == 0, timeout=120, explain=second.log)
            assert time.monotonic() - killed < 120
            assert "health_recompute_marked" in second.log()

    def scores() -> tuple[dict[int, float], int]:
        return (
            dict(HealthScore.objects.values_list("account_id", "score")),
            Account.objects.filter(health_score=30.0).count(),
        )

    by_account, current = in_tenant(scores)
    assert by_account == {account_id: 30.0 for account_id in account_ids}
    assert current == len(account_ids)


@dataclass
class HangingReceiver:
    """A real HTTP receiver whose first request hangs, then ends with no answer (its sender
    was killed meanwhile); every later one is answered 200. Records every request and answer."""

    event_ids: list[str] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""


@contextlib.contextmanager
def hanging_receiver() -> Iterator[HangingReceiver]:
    state = HangingReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            event_id = self.headers["Fullfield-Event-Id"]
            state.event_ids.append(event_id)
            if len(state.event_ids) == 1:
                state.release.wait(timeout=60)
                return
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")
            state.answered.append(event_id)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()


def test_a_webhook_whose_worker_is_killed_mid_delivery_is_delivered_once_by_another_worker(
    committed_tenant: Tenant,
    in_tenant: Callable[..., Any],
    tmp_path: Path,
    settings: Any,
) -> None:
    """The killed attempt's lease (15 s here) expires, the other worker (already running)
    attempts again: the receiver acknowledges the event exactly once, within two minutes."""
    settings.FULLFIELD_WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    environment = {
        "FULLFIELD_WEBHOOKS_ALLOW_PRIVATE_TARGETS": "1",
        "CELERY_VISIBILITY_TIMEOUT_SECONDS": "5",
        "FULLFIELD_WEBHOOKS_LEASE_SECONDS": "15",
    }
    with hanging_receiver() as receiver, running_celery_worker(tmp_path, **environment) as first:

        def dispatch() -> int:
            endpoint, _ = webhook_endpoint_create(
                url=receiver.url, event_types=["lifecycle_stage.changed"]
            )
            account = Account.objects.create(name="Acme", source_system="crm", external_id="A-1")
            app.send_task(
                WEBHOOK_DISPATCH_TASK,
                kwargs={
                    "event": "lifecycle_stage.changed",
                    "account_id": account.pk,
                    "previous_stage": "adopting",
                    "stage": "churned",
                },
                queue=first.queue,
            )
            return int(endpoint.pk)

        endpoint_id = in_tenant(dispatch)
        wait_until(lambda: receiver.event_ids, timeout=60, explain=first.log)
        with running_celery_worker(tmp_path, queue=first.queue, **environment) as second:
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(timeout=30)
            killed = time.monotonic()
            receiver.release.set()  # the dead sender's request ends unanswered

            def delivered() -> WebhookDelivery | None:
                return in_tenant(
                    lambda: WebhookDelivery.objects.filter(
                        endpoint_id=endpoint_id, status=WebhookDelivery.Status.DELIVERED
                    ).first()
                )

            delivery = wait_until(delivered, timeout=120, explain=second.log)
            assert time.monotonic() - killed < 120
            time.sleep(3)  # a duplicate attempt, were there one, would arrive meanwhile
            assert "webhook_delivery_send" in second.log()

    assert delivery.attempts == 2
    assert receiver.answered == [str(delivery.event_id)]
    assert receiver.event_ids == [str(delivery.event_id)] * 2
    assert in_tenant(lambda: WebhookDelivery.objects.filter(endpoint_id=endpoint_id).count()) == 1
