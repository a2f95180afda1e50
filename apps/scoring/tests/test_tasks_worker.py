"""Scoring on a real Celery worker process: freshness after a touch, and a worker killed
with SIGKILL in the middle of a recompute."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.accounts.models import Account
from apps.accounts.services import accounts_touch
from apps.scoring.models import HealthScore
from apps.scoring.services import health_recompute
from apps.scoring.tests.helpers import active_days_component, points, usage, use_components
from fullfield.celery_app import app
from fullfield.tenancy.models import Tenant
from tests.fixtures import WorkerProcess, database_url_for_tests, running_celery_worker

pytestmark = pytest.mark.worker


def wait_until(condition: Callable[[], bool], worker: WorkerProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.2)


def test_a_touched_account_is_rescored_by_a_worker_within_seconds(
    committed_tenant: Tenant, celery_worker_process: WorkerProcess, django_db_blocker: Any
) -> None:
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        use_components(active_days_component())
        account = Account.objects.create(name="Acme")
        for day in range(3):
            usage(account, day)
        accounts_touch(account_ids=[account.pk])
        # What the accounts.touched subscription does, sent to this test's worker.
        app.send_task("scoring.accounts_touched", queue=celery_worker_process.queue)
        started = time.monotonic()

    def scored() -> bool:
        with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
            return Account.objects.filter(pk=account.pk, health_score=30.0).exists()

    wait_until(scored, celery_worker_process)
    assert time.monotonic() - started < 15
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        assert not Account.objects.filter(rescore_requested_at__isnull=False).exists()


@pytest.fixture
def tenant_connection(committed_tenant: Tenant) -> Iterator[psycopg.Connection[Any]]:
    """A second session on the test database, in the tenant's schema (a concurrent writer)."""
    with psycopg.connect(database_url_for_tests()) as connection:
        connection.execute(f'SET search_path TO "{committed_tenant.schema_name}"')
        yield connection


def test_a_worker_killed_mid_recompute_leaves_one_correct_score_per_account_after_restart(
    committed_tenant: Tenant,
    tenant_connection: psycopg.Connection[Any],
    tmp_path: Path,
    django_db_blocker: Any,
) -> None:
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        use_components(active_days_component())
        accounts = [Account.objects.create(name=f"Account {n}") for n in range(20)]
        for account in accounts:
            usage(account, 0)
        health_recompute()  # every account at 10 (one active day)
        for account in accounts:
            usage(account, 1)
            usage(account, 2)
        accounts_touch(account_ids=[account.pk for account in accounts])
    # Hold one score row, as a slow reader would: the worker's pass blocks in its writes.
    held = accounts[7].pk
    tenant_connection.execute(
        "SELECT 1 FROM scoring_healthscore WHERE account_id = %s FOR UPDATE", [held]
    )

    def worker_waits_on_the_row() -> bool:
        with psycopg.connect(database_url_for_tests()) as probe:
            row = probe.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE %s",
                ["%INSERT INTO scoring_healthscore%"],
            ).fetchone()
        return bool(row and row[0])

    (tmp_path / "first").mkdir()
    with running_celery_worker(tmp_path / "first") as worker:
        with schema_context(committed_tenant.schema_name):
            app.send_task("scoring.health_recompute_marked", queue=worker.queue)
        wait_until(worker_waits_on_the_row, worker)
        worker.process.kill()  # SIGKILL: no cleanup, no acknowledgement
        worker.process.wait(timeout=10)
    tenant_connection.rollback()

    def current() -> tuple[dict[int, float], int]:
        with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
            scores = dict(HealthScore.objects.values_list("account_id", "score"))
            marked = Account.objects.filter(rescore_requested_at__isnull=False).count()
        return scores, marked

    # The dead pass's transaction rolled back: old scores, marks still set.
    wait_until(lambda: current()[1] == len(accounts), worker, timeout=30)
    assert set(current()[0].values()) == {10.0}

    (tmp_path / "second").mkdir()
    with running_celery_worker(tmp_path / "second") as restarted:
        # The beat's sweep finds the marks the dead pass left behind.
        with schema_context(committed_tenant.schema_name):
            app.send_task(
                "scoring.health_sweep", kwargs={"older_than_seconds": 0}, queue=restarted.queue
            )
        wait_until(lambda: current()[1] == 0, restarted)

    scores, _ = current()
    assert scores == {account.pk: 30.0 for account in accounts}
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        assert HealthScore.objects.count() == len(accounts)
        assert Account.objects.filter(
            health_score=30.0, health_as_of__lte=timezone.now()
        ).count() == len(accounts)


def test_changing_a_profile_rescores_every_account_on_a_worker(
    committed_tenant: Tenant,
    celery_worker_process: WorkerProcess,
    django_db_blocker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Tasks this process sends on commit go to this test's worker.
    monkeypatch.setitem(app.conf, "task_default_queue", celery_worker_process.queue)
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        account = Account.objects.create(name="Acme")
        for day in range(4):
            usage(account, day)
        use_components(active_days_component())  # commits: the worker rescores (40)

    def score_is(value: float) -> Callable[[], bool]:
        def check() -> bool:
            with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
                return HealthScore.objects.filter(account=account, score=value).exists()

        return check

    wait_until(score_is(40.0), celery_worker_process)
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        component = active_days_component()
        component["mapping"] = points((0, 0), (8, 100))
        use_components(component)
    wait_until(score_is(50.0), celery_worker_process)
