"""Celery tenant overhead: a tenant-aware no-op task vs a plain no-op task, one worker process.

    fullfield benchmark celery_overhead

Each task only counts itself in Redis. N tasks are queued first; the time from the first task
run to the last is measured for a plain Celery app and for the platform's tenant-aware app
(schema switch per task), with and without the worker's tenant cache.

Both workers are configured alike: the same settings (broker, prefetch 1, late acks, no result
backend), the same command line (solo pool, no gossip, mingle or heartbeat) and the same no-op.
The plain worker drops the tenant handlers that loading the settings would connect (see
`_plain_worker_without_tenant_handlers`): left in, they failed on every plain task and logged two
tracebacks per task, which is why the plain baseline once measured slower than the tenant one.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis
from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init

TASKS = int(os.environ.get("BENCH_TASKS", "2000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
REDIS_URL = os.environ["REDIS_URL"]
PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The baseline: a Celery app that knows nothing of tenants, configured like the platform's.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fullfield.settings")
plain_app = Celery("plain", set_as_current=False)
plain_app.config_from_object("django.conf:settings", namespace="CELERY")


_redis: redis.Redis | None = None


def _counter() -> redis.Redis:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(REDIS_URL)
    return _redis


def record_run(counter_key: str) -> None:
    """What both no-op tasks do: count themselves, and note when the first one ran."""
    client = _counter()
    client.setnx(f"{counter_key}:started", time.time())
    client.incr(counter_key)


@worker_init.connect
def _plain_worker_without_tenant_handlers(sender: object = None, **_: object) -> None:
    """Leave the plain worker with no tenant machinery: loading Django's settings imports the
    `fullfield` package and with it tenant-schemas-celery, which connects a schema switch and
    restore to every task's prerun and postrun. On a plain task both handlers fail (the task has
    no tenant databases), and Celery logs each failure with a traceback: two error tracebacks
    per task made the plain baseline slower than the tenant-aware task it is measured against."""
    if getattr(sender, "app", None) is plain_app:
        task_prerun.disconnect(dispatch_uid="tenant_schemas_switch_schema")
        task_postrun.disconnect(dispatch_uid="tenant_schemas_restore_schema")


@plain_app.task(name="bench.plain_noop")
def plain_noop(counter_key: str) -> None:
    record_run(counter_key)


def _drain_seconds(
    *, app_path: str, task_name: str, env: dict[str, str], schema: str | None
) -> float:
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    counter_key = f"bench:{queue}"
    log = Path("/tmp") / f"{queue}.log"  # noqa: S108  (a throwaway log for this run)
    _enqueue(task_name=task_name, queue=queue, counter_key=counter_key, schema=schema)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            app_path,
            "worker",
            "--pool",
            "solo",
            "--queues",
            queue,
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--include",
            "benchmarks._celery_tasks",
        ],
        env={**os.environ, **env, "CELERY_QUEUE": queue},
        cwd=PROJECT_ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        counter = _counter()
        while int(counter.get(counter_key) or 0) < TASKS:
            if worker.poll() is not None:
                raise RuntimeError(f"worker exited:\n{log.read_text()}")
            time.sleep(0.02)
        finished = time.time()
        return finished - float(counter.get(f"{counter_key}:started") or finished)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        _counter().delete(counter_key, f"{counter_key}:started")
        log.unlink(missing_ok=True)


def _enqueue(*, task_name: str, queue: str, counter_key: str, schema: str | None) -> None:
    if schema is None:
        for _ in range(TASKS):
            plain_app.send_task(task_name, args=[counter_key], queue=queue)
        return
    from django_tenants.utils import schema_context

    from fullfield.celery_app import app

    with schema_context(schema):
        for _ in range(TASKS):
            app.send_task(task_name, args=[counter_key], queue=queue)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fullfield.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from fullfield.tenancy.services import tenant_create, tenant_delete

    slug = f"bench-celery-{uuid.uuid4().hex[:6]}"
    tenant = tenant_create(slug=slug, name="Benchmark", admin_email=f"admin@{slug}.test").tenant
    runs: dict[str, list[float]] = {"plain": [], "cached": [], "uncached": []}
    try:
        # Alternating rounds, medians: one worker start-up or a busy moment skews one round only.
        # Without the cache (the note, not the row) a round is six times as long: one is enough.
        for round_number in range(ROUNDS):
            runs["plain"].append(
                _drain_seconds(
                    app_path="benchmarks.celery_overhead:plain_app",
                    task_name="bench.plain_noop",
                    env={},
                    schema=None,
                )
            )
            configurations = (("cached", "60"), ("uncached", "0"))[: 2 if round_number == 0 else 1]
            for name, cache_seconds in configurations:
                runs[name].append(
                    _drain_seconds(
                        app_path="fullfield.celery_app",
                        task_name="bench.tenant_noop",
                        env={"CELERY_TASK_TENANT_CACHE_SECONDS": cache_seconds},
                        schema=tenant.schema_name,
                    )
                )
    finally:
        tenant_delete(slug=slug)
    rate = {name: TASKS / statistics.median(seconds) for name, seconds in runs.items()}
    print(
        f"celery tenant overhead: tenant-aware no-op {rate['cached'] / rate['plain']:.2f}x plain "
        f"({rate['cached']:,.0f} vs {rate['plain']:,.0f} tasks/s, tenant cache 60 s); "
        f"without the cache {rate['uncached'] / rate['plain']:.2f}x "
        f"({rate['uncached']:,.0f} tasks/s, one round); medians of {ROUNDS} rounds of {TASKS:,} "
        "tasks"
    )
    from benchmarks._report import report_row

    report_row(
        workload="Celery tenant-aware no-op task",
        ours=rate["cached"],
        unit="tasks/s",
        reference=rate["plain"],
        reference_name="plain no-op, same worker config",
        goal=0.9,
        note=f"without the tenant cache {rate['uncached']:,.0f} tasks/s",
    )


if __name__ == "__main__":
    main()
