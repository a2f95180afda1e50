"""Batch ingest against a live server and committed data: concurrent duplicates and retries."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import requests
from django_tenants.utils import schema_context

from apps.accounts.models import Account, UsageEvent
from apps.accounts.tests.rollup import assert_rollup_matches_events
from apps.integrations.services import api_key_create
from fullfield.tenancy.models import Tenant


def write_key_for(tenant: Tenant) -> str:
    with schema_context(tenant.schema_name):
        return api_key_create(name="live test", scope="read_write", created_by=None)[1]


def batch_of(keys: list[int], *, accounts: int = 20) -> bytes:
    now = datetime.now(UTC)
    return orjson.dumps(
        {
            "events": [
                {
                    "id": f"evt-{key}",
                    "account_external_id": f"acct-{key % accounts}",
                    "contact_external_id": f"user-{key % (accounts * 3)}",
                    "name": "feature.used",
                    "occurred_at": (now - timedelta(seconds=key)).isoformat(),
                }
                for key in keys
            ]
        }
    )


def post_together(url: str, headers: dict[str, str], bodies: list[bytes]) -> list[dict[str, Any]]:
    """POST the bodies at the same moment, one thread each."""
    start = threading.Barrier(len(bodies))
    results: list[Any] = [None] * len(bodies)

    def send(index: int) -> None:
        start.wait()
        response = requests.post(url, data=bodies[index], headers=headers, timeout=60)
        results[index] = (response.status_code, response.json())

    threads = [threading.Thread(target=send, args=(index,)) for index in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(status == 202 for status, _ in results), results
    return [body for _, body in results]


def test_concurrent_posts_of_the_same_batch_store_one_copy_of_each_event(
    tenant_server: str, committed_tenant: Tenant, localhost_subdomains: None
) -> None:
    key = write_key_for(committed_tenant)
    headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
    url = f"{tenant_server}/api/v1/events/batch/"
    body = batch_of(list(range(2000)))

    first, second = post_together(url, headers, [body, body])

    assert first["accepted"] + second["accepted"] == 2000
    assert first["duplicates"] + second["duplicates"] == 2000
    with schema_context(committed_tenant.schema_name):
        assert UsageEvent.objects.count() == 2000
        # Both requests tried to create the same 20 accounts: each exists once.
        assert Account.objects.count() == 20
        # The rollup counts each event once, though both requests tried to insert it.
        rollup = assert_rollup_matches_events()
        assert sum(row[3] for row in rollup) == 2000
    # Between them the two requests created each account once and reported it once.
    assert sorted(
        first["created"]["accounts"]["external_ids"] + second["created"]["accounts"]["external_ids"]
    ) == sorted(f"acct-{n}" for n in range(20))

    retry = requests.post(url, data=body, headers=headers, timeout=60).json()
    assert (retry["accepted"], retry["duplicates"]) == (0, 2000)


def test_overlapping_batches_in_opposite_orders_neither_deadlock_nor_duplicate(
    tenant_server: str, committed_tenant: Tenant, localhost_subdomains: None
) -> None:
    key = write_key_for(committed_tenant)
    headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
    url = f"{tenant_server}/api/v1/events/batch/"
    for round_number in range(3):
        keys = list(range(round_number * 2000, round_number * 2000 + 1500))
        forwards = batch_of(keys, accounts=50 + round_number)
        backwards = batch_of([*reversed(keys[500:]), 10_000 + round_number], accounts=7)

        results = post_together(url, headers, [forwards, backwards])

        assert sum(result["accepted"] for result in results) == 1501
    with schema_context(committed_tenant.schema_name):
        assert UsageEvent.objects.count() == 1501 * 3
        assert sum(row[3] for row in assert_rollup_matches_events()) == 1501 * 3
