"""The tenant-aware no-op task of benchmarks/celery_overhead.py (loaded by its worker)."""

from __future__ import annotations

from celery import shared_task

from benchmarks.celery_overhead import record_run


@shared_task(name="bench.tenant_noop")
def tenant_noop(counter_key: str) -> None:
    record_run(counter_key)
