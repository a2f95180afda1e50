"""Load: 50 concurrent clients for 60 seconds against gunicorn, a Celery worker and beat.

    fullfield benchmark load        (BENCH_LOAD_USERS, default 50; BENCH_LOAD_SECONDS, 60)

The load of tests/test_load.py at full length (benchmarks/_load_locust.py: locust as a library,
headless, in a process of its own): integrators post batches of 10 events and read accounts
with their API keys, squad members claim, read and complete work items with their sessions.
Everything runs on this machine: the locust clients, gunicorn (2 workers x 4 threads), one
Celery worker, beat and PostgreSQL share its CPUs.

Reported: requests/s over all endpoints (goal: at least one answer per client per second) and
p95 per endpoint (goal <= 1 s), and the server errors (goal: none). Afterwards the run is
checked like the test checks it (every accepted event stored once, every touched account
rescored, every item claimed by one member); a failed check fails the benchmark.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import django

QUEUE = f"bench-load-{uuid.uuid4().hex[:6]}"
# Everything this process and its children send goes to the benchmark's own queue.
os.environ["CELERY_QUEUE"] = QUEUE
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fullfield.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
django.setup()

from benchmarks._load_plan import (  # noqa: E402
    PROJECT_ROOT,
    claims_problems,
    events_problems,
    load_problems,
    load_world_create,
    locust_run,
    server_errors,
    stale_scores,
)
from benchmarks._report import report_row, scaled  # noqa: E402
from benchmarks._servers import background_process, celery_command, gunicorn_server  # noqa: E402
from fullfield.tenancy.context import use_public_schema  # noqa: E402
from fullfield.tenancy.services import tenant_create, tenant_delete  # noqa: E402

USERS = int(os.environ.get("BENCH_LOAD_USERS", "50"))
SECONDS = scaled("BENCH_LOAD_SECONDS", 60, minimum=10)
P95_GOAL_MS = 1_000.0
RESCORE_TIMEOUT = 180.0


def main() -> None:
    slug = f"bench-load-{uuid.uuid4().hex[:6]}"
    tenant = tenant_create(slug=slug, name="Load", admin_email=f"admin@{slug}.test").tenant
    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    try:
        plan = load_world_create(tenant, users=USERS, seconds=SECONDS)
        environ = {**os.environ, "LOG_JSON": "0"}
        worker = celery_command(
            *["worker", "--pool", "solo", "--queues", QUEUE, "--loglevel", "WARNING"],
            *["--without-gossip", "--without-mingle", "--without-heartbeat"],
        )
        beat = celery_command("beat", "--loglevel", "WARNING", "--schedule", str(workdir / "beat"))
        with ExitStack() as processes:
            for name, command in (("worker", worker), ("beat", beat)):
                processes.enter_context(
                    background_process(
                        command, environ=environ, log_path=workdir / f"{name}.log", cwd=PROJECT_ROOT
                    )
                )
            url = processes.enter_context(
                gunicorn_server(
                    environ=environ,
                    log_path=workdir / "web.log",
                    cwd=PROJECT_ROOT,
                    extra_args=("--threads", "4"),
                    secret_key=plan["secret_key"],
                )
            )
            result = locust_run({**plan, "base_url": url}, workdir)
            stopped = time.monotonic()
            while (stale := stale_scores(tenant)) and time.monotonic() - stopped < RESCORE_TIMEOUT:
                time.sleep(1)
            rescored_in = time.monotonic() - stopped
        errors = server_errors(result)
        problems = [
            *load_problems(result),
            *events_problems(tenant, result),
            *stale,
            *claims_problems(tenant, plan, result),
            *(f"{name}: {codes}" for name, codes in errors.items()),
        ]
        report(result, errors, rescored_in)
        if problems:
            raise SystemExit("load: " + "; ".join(problems) + f" (logs in {workdir})")
        shutil.rmtree(workdir, ignore_errors=True)  # kept only when a run failed
    finally:
        use_public_schema()
        tenant_delete(slug=slug)


def report(
    result: Mapping[str, Any], errors: dict[str, dict[str, int]], rescored_in: float
) -> None:
    endpoints: dict[str, dict[str, Any]] = result["endpoints"]
    seconds = float(result["seconds"])
    accepted = len(result["accepted_events"])
    claims = len(result["claims"])
    print(
        f"load: {USERS} clients for {seconds:.0f} s on {os.cpu_count()} CPUs shared by the "
        "clients, gunicorn (2 workers x 4 threads), one Celery worker, beat and PostgreSQL\n"
        f"  {result['requests']:,} requests, {result['per_second']:.1f}/s; {accepted:,} events "
        f"accepted, {claims:,} items claimed; every touched account rescored "
        f"{rescored_in:.1f} s after the load stopped"
    )
    for name, endpoint in endpoints.items():
        print(
            f"  {name:32} {endpoint['requests']:6,.0f} requests {endpoint['per_second']:6.1f}/s "
            f"p50 {endpoint['p50_ms']:6.0f} ms  p95 {endpoint['p95_ms']:6.0f} ms  "
            f"{endpoint['statuses']}"
        )
    report_row(
        workload=f"load, {USERS} clients x {seconds:.0f} s, all endpoints",
        ours=float(result["per_second"]),
        unit="req/s",
        goal=float(USERS),
        goal_on="ours",
        note=f"{accepted:,} events accepted, {claims:,} items claimed; nothing lost",
    )
    for name, endpoint in endpoints.items():
        report_row(
            workload=f"load, {name}, p95",
            ours=endpoint["p95_ms"],
            unit="ms",
            goal=P95_GOAL_MS,
            goal_on="ours",
            lower_is_better=True,
            note=f"{endpoint['per_second']:.1f} req/s, p50 {endpoint['p50_ms']:.0f} ms",
        )
    report_row(
        workload=f"load, {USERS} clients, 5xx and unanswered requests",
        ours=float(sum(sum(codes.values()) for codes in errors.values())),
        unit="responses",
        goal=0,
        goal_on="ours",
        lower_is_better=True,
    )


if __name__ == "__main__":
    main()
