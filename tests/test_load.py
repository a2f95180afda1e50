"""Load: 50 concurrent clients against gunicorn, a real Celery worker and beat, then nothing lost.

Integrators post events and read accounts with their API keys while squad members claim,
read and complete work items with their sessions (benchmarks/_load_locust.py, locust as a
library in a process of its own). Afterwards: no answer was a 5xx (nor missing), every event
answered 202 is stored once, every account the load touched is rescored by the worker with no
one intervening, and every claimed item was claimed by exactly one member.

20 seconds by default; FULLFIELD_LOAD=full runs the full 60 seconds (what `benchmarks/load.py`
measures).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks._load_plan import (
    claims_problems,
    events_problems,
    load_world_create,
    locust_run,
    server_errors,
    stale_scores,
)
from benchmarks._servers import background_process, celery_command, gunicorn_server
from fullfield.tenancy.models import Tenant
from tests.fixtures import PROJECT_ROOT, child_environment, running_celery_worker
from tests.polling import eventually

pytestmark = pytest.mark.reliability

USERS = 50
THREADS = ("--threads", "4")
SECONDS = 60 if os.environ.get("FULLFIELD_LOAD") == "full" else 20


@pytest.fixture
def committed_data_access(django_db_blocker: Any) -> Iterator[None]:
    """Database access outside a test transaction: other processes write what this test reads."""
    with django_db_blocker.unblock():
        yield


def test_fifty_clients_mixing_ingest_reads_and_claims_lose_nothing(
    committed_tenant: Tenant, committed_data_access: None, tmp_path: Path
) -> None:
    plan = load_world_create(committed_tenant, users=USERS, seconds=SECONDS)
    queue = f"load-{uuid.uuid4().hex[:8]}"
    environ = child_environment(CELERY_QUEUE=queue)
    beat = celery_command("beat", "--loglevel", "WARNING", "--schedule", str(tmp_path / "beat"))
    with (
        running_celery_worker(tmp_path, queue=queue) as worker,
        background_process(beat, environ=environ, log_path=tmp_path / "beat.log", cwd=PROJECT_ROOT),
        gunicorn_server(
            environ=environ,
            log_path=tmp_path / "web.log",
            cwd=PROJECT_ROOT,
            extra_args=THREADS,
            secret_key=plan["secret_key"],
        ) as url,
    ):
        result = locust_run({**plan, "base_url": url}, tmp_path)
        stale = eventually(lambda: not stale_scores(committed_tenant), timeout=120, interval=1)
        web_log = (tmp_path / "web.log").read_text(errors="replace")

        assert result["requests"] > USERS * SECONDS / 10, result["endpoints"]
        assert server_errors(result) == {}, (result["errors"], web_log[-5000:])
        assert result["accepted_events"], result["endpoints"]
        assert result["claims"], result["endpoints"]
        assert events_problems(committed_tenant, result) == []
        assert stale, (stale_scores(committed_tenant), worker.log()[-5000:])
        assert claims_problems(committed_tenant, plan, result) == []
