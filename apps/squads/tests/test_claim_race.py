"""Two members claim the same items at the same moment on a real threaded server: for every
item exactly one wins and the other gets a 409, and nothing is claimed twice."""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django_tenants.utils import schema_context

from apps.accounts.tests.factories import AccountFactory
from apps.squads.models import Member, WorkItem, WorkItemEvent
from apps.squads.tests.factories import MemberFactory, join, make_squad, session_for
from fullfield.tenancy.models import Tenant
from tests.fixtures import host_of

ITEMS = 12
CSRF = "a" * 32  # a CSRF secret the session's requests present as cookie and header


def test_two_members_claiming_at_once_get_one_win_and_one_409_per_item(
    committed_tenant: Tenant, tenant_server: str, django_db_blocker: Any
) -> None:
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        squad = make_squad("Racers")
        members: list[Member] = [MemberFactory.create(capacity=ITEMS) for _ in range(2)]
        join(squad, *members)
        account = AccountFactory.create()
        item_ids = [
            WorkItem.objects.create(queue=squad.queue, account=account, title=f"Item {n}").pk
            for n in range(ITEMS)
        ]
        sessions = {member.pk: session_for(member.user) for member in members}
    port = urlsplit(tenant_server).port
    results: list[tuple[int, int, int, str]] = []
    lock = threading.Lock()

    def claim(member_id: int, barrier: threading.Barrier, item_id: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {
            "Host": host_of(committed_tenant),
            "Cookie": f"{settings.SESSION_COOKIE_NAME}={sessions[member_id]}; "
            f"{settings.CSRF_COOKIE_NAME}={CSRF}",
            "X-CSRFToken": CSRF,
            "Content-Type": "application/json",
        }
        barrier.wait()
        connection.request("POST", f"/api/v1/work-items/{item_id}/claim/", "{}", headers)
        response = connection.getresponse()
        body = json.loads(response.read())
        connection.close()
        message = body["error"]["message"] if response.status != 200 else ""
        with lock:
            results.append((item_id, member_id, response.status, message))

    for item_id in item_ids:
        barrier = threading.Barrier(2)
        threads = [
            threading.Thread(target=claim, args=(member.pk, barrier, item_id)) for member in members
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    for item_id in item_ids:
        outcomes = sorted(status for (i, _, status, _) in results if i == item_id)
        assert outcomes == [200, 409], (item_id, results)
    conflicts = [message for (_, _, status, message) in results if status == 409]
    assert all("is already claimed by" in message for message in conflicts)
    winners = {i: m for (i, m, status, _) in results if status == 200}
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        stored = dict(WorkItem.objects.filter(pk__in=item_ids).values_list("pk", "assignee_id"))
        assert stored == winners
        assert WorkItemEvent.objects.filter(kind="claimed").count() == ITEMS
