"""Squads' tasks on a real Celery worker process: a domain event makes a play put an item in
the squad's queue; snoozed items wake up."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.accounts.events import AccountsTouched
from apps.accounts.tests.factories import AccountFactory
from apps.squads.models import WorkItem
from apps.squads.tests.factories import PlayFactory, WorkItemFactory, make_squad
from fullfield.celery_app import app
from fullfield.tenancy.models import Tenant
from tests.fixtures import WorkerProcess

pytestmark = pytest.mark.worker


def wait_for(check: Callable[[], bool], *, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_an_accounts_touched_event_makes_an_active_play_create_an_item_on_a_worker(
    committed_tenant: Tenant, celery_worker_process: WorkerProcess, django_db_blocker: Any
) -> None:
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        squad = make_squad("Live")
        play = PlayFactory.create(squad=squad)
        account = AccountFactory.create(segment="enterprise")
        event = AccountsTouched(account_ids=[account.pk])
        # What fullfield.events.publish sends to each subscriber, routed to the test's worker.
        app.send_task(
            "squads.plays_evaluate",
            kwargs={"event": event.name, **event.payload()},
            queue=celery_worker_process.queue,
        )

    def created() -> bool:
        with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
            return WorkItem.objects.filter(play=play, account=account).exists()

    assert wait_for(created), celery_worker_process.log()[-3000:]
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        item = WorkItem.objects.get(play=play)
        assert (item.queue_id, item.status, item.title) == (
            squad.queue.pk,
            "open",
            f"Welcome {account.name}",
        )


def test_snoozed_items_wake_up_on_the_worker(
    committed_tenant: Tenant, celery_worker_process: WorkerProcess, django_db_blocker: Any
) -> None:
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        item = WorkItemFactory.create(queue=make_squad("Sleepy").queue)
        WorkItem.objects.filter(pk=item.pk).update(
            status="snoozed", snoozed_until=timezone.now() - dt.timedelta(minutes=1)
        )
        app.send_task("squads.work_items_wake", queue=celery_worker_process.queue)

    def woke() -> bool:
        with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
            return WorkItem.objects.get(pk=item.pk).status == "open"

    assert wait_for(woke), celery_worker_process.log()[-3000:]
