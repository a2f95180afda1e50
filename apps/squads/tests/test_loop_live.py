"""The loop on real services: events ingested through the API -> the play fires on a real
worker -> an item in the squad's queue -> a member claims and completes it over HTTP -> a
touchpoint with the effort on the account's timeline.

(Score triggers join this loop once scoring's recompute publishes its events; the play here
reacts to the touched account itself.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from django.conf import settings
from django_tenants.utils import schema_context

from apps.accounts.models import Account
from apps.integrations.services import api_key_create
from apps.squads.models import WorkItem
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
