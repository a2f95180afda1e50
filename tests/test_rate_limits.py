"""The per-credential rate limit holds under concurrency (a live, threaded server)."""

from __future__ import annotations

import threading

import pytest
import requests
from django_tenants.utils import schema_context

from apps.integrations.services import api_key_create
from fullfield.api.throttling import PerCredentialRateThrottle
from fullfield.tenancy.models import Tenant


def test_concurrent_clients_never_get_more_than_the_budget(
    committed_tenant: Tenant,
    tenant_server: str,
    localhost_subdomains: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    budget, clients, calls_each = 25, 10, 8
    monkeypatch.setattr(
        PerCredentialRateThrottle, "THROTTLE_RATES", {"credential": f"{budget}/min"}
    )
    with schema_context(committed_tenant.schema_name):
        key = api_key_create(name="burst", scope="read", created_by=None)[1]
    start = threading.Barrier(clients)
    statuses: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Api-Key {key}"
        start.wait()
        for _ in range(calls_each):
            status = session.get(f"{tenant_server}/api/v1/me/", timeout=30).status_code
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(statuses)) == [200, 429]
    assert statuses.count(200) == budget
