"""Freshness of the loop: from an event accepted by the API to the account's health score and
to the work item of the play that the score's band change fires.

Real processes on 127.0.0.1 only: a gunicorn server, a Celery worker and Celery beat, on their
own queue. The accounts start scored poor (no usage). One sample: an account's first event is
posted to /api/v1/events/batch/; from its HTTP 202, the benchmark polls the database until the
account's health score reflects it (good, by the worker's debounced incremental pass), then
until the squad's play "back to good" has put a work item for it in the queue (the band change
event, heard by the play engine on the worker). Samples run one after another, so each pays
the scoring debounce in full.

    fullfield benchmark freshness        (BENCH_SAMPLES, default 10; BENCH_TIMEOUT per sample)

Printed: p50 and p95 of each delay against the goals (p95 <= 15 s to the score, <= 30 s to the
work item).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import django
import requests

QUEUE = f"bench-freshness-{uuid.uuid4().hex[:6]}"
# Everything this process and its children send goes to the benchmark's own queue.
os.environ["CELERY_QUEUE"] = QUEUE
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fullfield.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
django.setup()

from django.conf import settings  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from apps.accounts.models import Account  # noqa: E402
from apps.integrations.services import api_key_create  # noqa: E402
from apps.scoring.models import HealthScore  # noqa: E402
from apps.scoring.services import health_profile_default_ensure, health_profile_update  # noqa: E402
from apps.squads.models import Play, WorkItem  # noqa: E402
from apps.squads.services import squad_create  # noqa: E402
from benchmarks._report import report_row  # noqa: E402
from benchmarks._servers import gunicorn_server  # noqa: E402
from fullfield.tenancy.context import use_public_schema  # noqa: E402
from fullfield.tenancy.services import tenant_create, tenant_delete  # noqa: E402

SAMPLES = int(os.environ.get("BENCH_SAMPLES", "10"))
SAMPLE_TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "60"))
SCORE_GOAL, ITEM_GOAL = 15.0, 30.0
PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = Path(tempfile.mkdtemp(prefix="bench-freshness-"))


@contextmanager
def _process(name: str, command: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    log = LOG_DIR / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            env={**os.environ, "LOG_JSON": "0"},
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "fullfield.celery_app", *args]


def _wait(check: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> float | None:
    """Seconds until `check` holds, or None after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(interval)
    return None


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _report(what: str, delays: list[float], goal: float, missed: int) -> None:
    if not delays:
        print(f"freshness: event -> {what}: no sample finished within {SAMPLE_TIMEOUT:.0f} s")
        return
    p50, p95 = statistics.median(delays), _percentile(delays, 0.95)
    met = "met" if p95 <= goal and not missed else "NOT met"
    late = f", {missed} of {SAMPLES} samples timed out" if missed else ""
    print(
        f"freshness: event -> {what} p50 {p50:.1f} s, p95 {p95:.1f} s "
        f"(goal p95 <= {goal:.0f} s): {met} ({len(delays)} samples{late})"
    )
    report_row(
        workload=f"freshness, event accepted -> {what}, p95",
        ours=p95 if not missed else max(p95, SAMPLE_TIMEOUT),
        unit="s",
        goal=goal,
        goal_on="ours",
        lower_is_better=True,
        note=f"p50 {p50:.1f} s, {len(delays)} samples{late}",
    )


def main() -> None:
    slug = f"bench-fresh-{uuid.uuid4().hex[:6]}"
    tenant = tenant_create(slug=slug, name="Freshness", admin_email=f"admin@{slug}.test").tenant
    try:
        with schema_context(tenant.schema_name):
            # Any event in the last 30 days makes an account healthy: the profile's recompute
            # scores the new accounts poor (0), and each one's first event lifts it to good.
            health_profile_update(
                profile=health_profile_default_ensure(),
                data={
                    "components": [
                        {
                            "metric": "event_count",
                            "weight": 1,
                            "window_days": 30,
                            "mapping": {"kind": "thresholds", "points": [[0, 0], [1, 100]]},
                        }
                    ]
                },
            )
            squad = squad_create(data={"name": "Freshness", "value_area": "account_based"})
            Play.objects.create(
                squad=squad,
                name="Back to good",
                status="active",
                trigger="health_band_changed",
                trigger_config={"from_band": "poor", "to_band": "good"},
                audience={},
                item_template={"title": "Welcome {account}", "due_in_days": 3},
            )
            accounts = [
                Account.objects.create(name=f"Fresh {n}", external_id=f"fresh-{n}")
                for n in range(SAMPLES)
            ]
            key = api_key_create(name="freshness", scope="read_write", created_by=None)[1]
        worker = _celery(
            *["worker", "--pool", "solo", "--queues", QUEUE, "--loglevel", "WARNING"],
            *["--without-gossip", "--without-mingle", "--without-heartbeat"],
        )
        beat = _celery(
            *["beat", "--loglevel", "WARNING", "--schedule", str(LOG_DIR / "beat-schedule")]
        )
        server = gunicorn_server(
            environ={**os.environ, "LOG_JSON": "0"},
            log_path=LOG_DIR / "server.log",
            cwd=PROJECT_ROOT,
        )
        with server as base, _process("worker", worker), _process("beat", beat):
            headers = {
                "Host": f"{slug}.{settings.FULLFIELD_BASE_DOMAIN}",
                "Authorization": f"Api-Key {key}",
            }

            def all_poor() -> bool:
                with schema_context(tenant.schema_name):
                    return HealthScore.objects.filter(band="poor").count() == len(accounts)

            if _wait(all_poor, timeout=120, interval=0.3) is None:
                raise SystemExit(f"the worker did not score the accounts; see {LOG_DIR}")
            to_score, to_item, missed_score, missed_item = [], [], 0, 0
            for account in accounts:
                score, item = _sample(base, headers, tenant.schema_name, account)
                if score is None:
                    missed_score += 1
                else:
                    to_score.append(score)
                if item is None:
                    missed_item += 1
                else:
                    to_item.append(item)
        _report("score", to_score, SCORE_GOAL, missed_score)
        _report("work item", to_item, ITEM_GOAL, missed_item)
        shutil.rmtree(LOG_DIR, ignore_errors=True)  # kept only when a run failed
    finally:
        use_public_schema()
        tenant_delete(slug=slug)


def _sample(
    base: str, headers: dict[str, str], schema: str, account: Account
) -> tuple[float | None, float | None]:
    """Post the account's first event; seconds from the 202 to its score and to its item."""
    response = requests.post(
        f"{base}/api/v1/events/batch/",
        json={
            "events": [
                {
                    "id": f"{account.external_id}-1",
                    "account_external_id": account.external_id,
                    "name": "report.exported",
                    "occurred_at": datetime.now(UTC).isoformat(),
                }
            ]
        },
        headers=headers,
        timeout=30,
    )
    accepted = time.monotonic()
    if response.status_code != 202:
        raise SystemExit(f"ingest refused the event: {response.status_code} {response.text}")

    def scored() -> bool:
        with schema_context(schema):
            return HealthScore.objects.filter(account_id=account.pk, band="good").exists()

    def queued() -> bool:
        with schema_context(schema):
            return WorkItem.objects.filter(account_id=account.pk).exists()

    _wait(scored, timeout=SAMPLE_TIMEOUT)
    to_score = time.monotonic() - accepted if scored() else None
    remaining = max(0.0, SAMPLE_TIMEOUT - (time.monotonic() - accepted))
    _wait(queued, timeout=remaining)
    to_item = time.monotonic() - accepted if queued() else None
    return to_score, to_item


if __name__ == "__main__":
    main()
