"""The loop on real services: events ingested through the API -> a real worker recomputes the
account's health score -> the band change fires a play -> an item in the squad's queue -> a
member claims and completes it over HTTP -> a touchpoint with the effort on the account's
timeline -> the account's ROI, recomputed by scoring, counts that effort.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.conf import settings
from django_tenants.utils import schema_context

from apps.accounts.models import Account
from apps.accounts.tests.factories import SubscriptionFactory, TicketFactory
from apps.integrations.services import api_key_create
from apps.scoring.services import health_recompute
from apps.scoring.tests.helpers import points, use_components
from apps.scoring.value import account_value_recompute
from apps.squads.models import PlayRun, WorkItem
from apps.squads.tests.factories import MemberFactory, PlayFactory, join, make_squad, session_for
from fullfield.celery_app import app
from fullfield.tenancy.models import Tenant
from tests.fixtures import WorkerProcess

pytestmark = pytest.mark.worker

CSRF = "b" * 32  # a CSRF secret the session's requests present as cookie and header


@pytest.fixture
def events_to_test_worker(celery_worker_process: WorkerProcess) -> Iterator[None]:
    """Domain events this process publishes (after commit) go to the test's worker."""
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = celery_worker_process.queue
    yield
    app.conf.task_default_queue = previous


def wait_for(check: Callable[[], Any], *, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    return None


def test_ingested_usage_becomes_a_completed_item_and_a_touchpoint_on_the_timeline(
    committed_tenant: Tenant,
    tenant_server: str,
    celery_worker_process: WorkerProcess,
    localhost_subdomains: None,
    django_db_blocker: Any,
    events_to_test_worker: None,
) -> None:
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        squad = make_squad("Loop")
        member = MemberFactory.create()
        join(squad, member)
        play = PlayFactory.create(squad=squad, name="Enterprise check-in")
        account = Account.objects.create(name="Acme", segment="enterprise", external_id="acme-1")
        key = api_key_create(name="loop", scope="read_write", created_by=None)[1]
        session = session_for(member.user)
    api = {"Authorization": f"Api-Key {key}"}
    person = {
        "Cookie": f"{settings.SESSION_COOKIE_NAME}={session}; {settings.CSRF_COOKIE_NAME}={CSRF}",
        "X-CSRFToken": CSRF,
    }

    ingested = requests.post(
        f"{tenant_server}/api/v1/events/batch/",
        json={
            "events": [
                {
                    "id": "evt-1",
                    "account_external_id": "acme-1",
                    "name": "report.exported",
                    "occurred_at": datetime.now(UTC).isoformat(),
                }
            ]
        },
        headers=api,
        timeout=30,
    )
    assert ingested.status_code == 202, ingested.text

    def queued() -> list[dict[str, Any]]:
        response = requests.get(
            f"{tenant_server}/api/v1/work-items/?squad={squad.pk}&status=open",
            headers=api,
            timeout=30,
        )
        results: list[dict[str, Any]] = response.json()["results"]
        return results

    items = wait_for(queued)
    assert items, celery_worker_process.log()[-3000:]
    (item,) = items
    assert (item["account"], item["play"]) == (account.pk, play.pk)

    claimed = requests.post(
        f"{tenant_server}/api/v1/work-items/{item['id']}/claim/", headers=person, timeout=30
    )
    assert claimed.json()["status"] == "claimed", claimed.text
    completed = requests.post(
        f"{tenant_server}/api/v1/work-items/{item['id']}/complete/",
        json={"outcome": "Walked them through exports", "effort_minutes": 40},
        headers=person,
        timeout=30,
    )
    assert completed.json()["status"] == "done", completed.text

    timeline = requests.get(
        f"{tenant_server}/api/v1/accounts/{account.pk}/timeline/?kind=touchpoint",
        headers=api,
        timeout=30,
    ).json()["results"]
    assert len(timeline) == 1
    touchpoint = requests.get(
        f"{tenant_server}/api/v1/touchpoints/{timeline[0]['id']}/", headers=api, timeout=30
    ).json()
    assert (touchpoint["kind"], touchpoint["effort_minutes"]) == ("work_item", 40)

    # The touchpoint touched the account again: the play re-evaluates it on the worker and,
    # enrolled once already this month, leaves it alone.
    time.sleep(3)
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        assert WorkItem.objects.filter(play=play).count() == 1


def test_ingested_usage_rescores_the_account_fires_its_band_play_and_the_effort_moves_its_roi(
    committed_tenant: Tenant,
    tenant_server: str,
    celery_worker_process: WorkerProcess,
    localhost_subdomains: None,
    django_db_blocker: Any,
    events_to_test_worker: None,
) -> None:
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        # Health = events in the last 30 days, 10 or more = 100: the batch below lifts the
        # account from poor (0) straight to good.
        use_components(
            {
                "metric": "event_count",
                "weight": 1,
                "window_days": 30,
                "mapping": points((0, 0), (10, 100)),
            }
        )
        account = Account.objects.create(name="Acme", external_id="acme-9")
        SubscriptionFactory.create(account=account, mrr=1000)
        TicketFactory.create(account=account)  # a cost to serve before the squad's work
        health_recompute(account_ids=[account.pk])
        account_value_recompute(account_ids=[account.pk])
        squad = make_squad("Loop")
        member = MemberFactory.create()
        join(squad, member)
        play = PlayFactory.create(
            squad=squad,
            name="Back to good health",
            trigger="health_band_changed",
            trigger_config={"from_band": "poor", "to_band": "good"},
        )
        key = api_key_create(name="loop", scope="read_write", created_by=None)[1]
        session = session_for(member.user)
    api = {"Authorization": f"Api-Key {key}"}
    person = {
        "Cookie": f"{settings.SESSION_COOKIE_NAME}={session}; {settings.CSRF_COOKIE_NAME}={CSRF}",
        "X-CSRFToken": CSRF,
    }

    def get(path: str) -> requests.Response:
        return requests.get(f"{tenant_server}{path}", headers=api, timeout=30)

    health = get(f"/api/v1/accounts/{account.pk}/health/").json()
    assert (health["score"], health["band"]) == (0, "poor")
    value_before = get(f"/api/v1/accounts/{account.pk}/value/").json()
    assert value_before["roi"] is not None, value_before

    now = datetime.now(UTC).isoformat()
    ingested = requests.post(
        f"{tenant_server}/api/v1/events/batch/",
        json={
            "events": [
                {
                    "id": f"loop-{n}",
                    "account_external_id": "acme-9",
                    "name": "report.exported",
                    "occurred_at": now,
                }
                for n in range(10)
            ]
        },
        headers=api,
        timeout=30,
    )
    assert ingested.status_code == 202, ingested.text

    rescored = wait_for(
        lambda: get(f"/api/v1/accounts/{account.pk}/health/").json()["band"] == "good"
    )
    assert rescored, celery_worker_process.log()[-3000:]
    health = get(f"/api/v1/accounts/{account.pk}/health/").json()
    assert (health["score"], health["previous_score"]) == (100, 0)

    def queued() -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = get(
            f"/api/v1/work-items/?squad={squad.pk}&status=open"
        ).json()["results"]
        return results

    items = wait_for(queued)
    assert items, celery_worker_process.log()[-3000:]
    (item,) = items
    assert (item["account"], item["play"]) == (account.pk, play.pk)
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        fired = PlayRun.objects.filter(play=play, event="health_band.changed").values_list(
            "matched_account_ids", "created_item_ids"
        )
        assert list(fired) == [([account.pk], [item["id"]])], "the band change fired the play"

    claimed = requests.post(
        f"{tenant_server}/api/v1/work-items/{item['id']}/claim/", headers=person, timeout=30
    )
    assert claimed.json()["status"] == "claimed", claimed.text
    completed = requests.post(
        f"{tenant_server}/api/v1/work-items/{item['id']}/complete/",
        json={"outcome": "Expansion call booked", "effort_minutes": 90},
        headers=person,
        timeout=30,
    )
    assert completed.json()["status"] == "done", completed.text

    timeline = get(f"/api/v1/accounts/{account.pk}/timeline/?kind=touchpoint").json()["results"]
    assert len(timeline) == 1
    touchpoint = get(f"/api/v1/touchpoints/{timeline[0]['id']}/").json()
    assert (touchpoint["kind"], touchpoint["effort_minutes"]) == ("work_item", 90)

    # The touchpoint touched the account: scoring's next pass revalues it with 90 minutes of
    # effort (1.5 hours at the default 60 an hour) added to its cost to serve.
    cost_before = Decimal(value_before["cost_to_serve_12m"])
    revalued = wait_for(
        lambda: (
            Decimal(get(f"/api/v1/accounts/{account.pk}/value/").json()["cost_to_serve_12m"])
            == cost_before + 90
        )
    )
    assert revalued, celery_worker_process.log()[-3000:]
    value_after = get(f"/api/v1/accounts/{account.pk}/value/").json()
    earned = (
        Decimal(value_after["revenue_12m"]) + Decimal(value_after["expansion_12m"])
    ) * Decimal("0.8")
    cost = cost_before + 90
    assert value_after["roi"] == pytest.approx(float((earned - cost) / cost), abs=0.001)
    assert value_after["roi"] < value_before["roi"]
