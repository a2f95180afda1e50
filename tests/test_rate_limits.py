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
    waits: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Api-Key {key}"
        start.wait()
        for _ in range(calls_each):
            response = session.get(f"{tenant_server}/api/v1/me/", timeout=30)
            with lock:
                statuses.append(response.status_code)
                if response.status_code == 429:
                    waits.append(int(response.headers["Retry-After"]))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(statuses)) == [200, 429]
    # Exactly the budget, even when the burst straddles the turn of a minute.
    assert statuses.count(200) == budget
    # Refused clients are told to wait until the oldest admitted request leaves the window.
    assert all(0 < wait <= 60 for wait in waits)
