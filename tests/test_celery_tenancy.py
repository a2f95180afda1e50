"""Celery: a task runs in the schema it was sent from, on a real worker process and Redis."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from celery import Celery
from django.conf import settings
from django.core.cache import cache
from django_tenants.utils import schema_context

from fullfield.tasks import fan_out, worker_ping
from fullfield.tenancy.models import Tenant
from tests.fixtures import WorkerProcess, World
from tests.polling import wait_until

pytestmark = pytest.mark.worker


def _cache_value_in(tenant: Tenant, key: str) -> Any:
    with schema_context(tenant.schema_name):
        return cache.get(key)


def _wait_for_cache(tenant: Tenant, key: str, expected: str, worker: WorkerProcess) -> None:
    wait_until(
        lambda: _cache_value_in(tenant, key) == expected,
        explain=lambda: f"{key} != {expected!r} in {tenant.slug}\n{worker.log()}",
    )


def test_a_task_sent_from_tenant_a_runs_in_tenant_as_schema(
    world: World, committed_tenant: Tenant, celery_worker_process: WorkerProcess
) -> None:
    token = uuid.uuid4().hex
    with schema_context(committed_tenant.schema_name):
        worker_ping.apply_async(args=(token,), queue=celery_worker_process.queue)
    _wait_for_cache(committed_tenant, "worker-ping", token, celery_worker_process)
    # The same key in another tenant's cache was never written.
    assert _cache_value_in(world.tenant_b, "worker-ping") != token
    assert _cache_value_in(world.tenant_a, "worker-ping") != token


def test_a_task_message_without_a_schema_is_refused_and_never_runs_in_public(
    committed_tenant: Tenant, celery_worker_process: WorkerProcess
) -> None:
    token = uuid.uuid4().hex
    # A producer that knows nothing of tenants: a plain Celery app on the same broker.
    plain = Celery("plain", broker=settings.CELERY_BROKER_URL, set_as_current=False)
    plain.send_task("fullfield.worker_ping", args=(token,), queue=celery_worker_process.queue)
    assert celery_worker_process.wait_for_log("refused task fullfield.worker_ping"), (
        celery_worker_process.log()
    )
    with schema_context("public"):
        assert cache.get("worker-ping") != token
    assert _cache_value_in(committed_tenant, "worker-ping") != token


def test_a_task_sent_from_the_public_schema_is_refused(
    committed_tenant: Tenant, celery_worker_process: WorkerProcess
) -> None:
    token = uuid.uuid4().hex
    before = celery_worker_process.log().count("refused task fullfield.worker_ping")
    with schema_context("public"):
        worker_ping.apply_async(args=(token,), queue=celery_worker_process.queue)
    wait_until(
        lambda: celery_worker_process.log().count("refused task fullfield.worker_ping") > before,
        explain=celery_worker_process.log,
    )
    with schema_context("public"):
        assert cache.get("worker-ping") != token


def test_beat_fan_out_sends_periodic_work_into_every_ready_tenant(
    world: World, committed_tenant: Tenant, celery_worker_process: WorkerProcess
) -> None:
    for tenant in (world.tenant_a, world.tenant_b, committed_tenant):
        with schema_context(tenant.schema_name):
            cache.delete("worker-ping")
    with schema_context("public"):
        fan_out.apply_async(args=["fullfield.worker_ping"], queue=celery_worker_process.queue)
    for tenant in (world.tenant_a, world.tenant_b, committed_tenant):
        _wait_for_cache(tenant, "worker-ping", "beat", celery_worker_process)
    with schema_context("public"):
        assert cache.get("worker-ping") is None
