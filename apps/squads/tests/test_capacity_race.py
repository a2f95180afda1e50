"""One member claims two items at the same moment with one place left below their capacity, on
a real threaded server (each request its own transaction): exactly one claim wins, the other is
refused for capacity, and the member never holds more than their capacity."""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django_tenants.utils import schema_context

from apps.accounts.tests.factories import AccountFactory
from apps.squads.models import OPEN_STATUSES, Member, WorkItem
from apps.squads.tests.factories import MemberFactory, join, make_squad, session_for
from fullfield.tenancy.models import Tenant
from tests.fixtures import host_of

ROUNDS = 8
CSRF = "a" * 32  # a CSRF secret the session's requests present as cookie and header


def test_one_member_claiming_twice_at_once_never_goes_over_capacity(
    committed_tenant: Tenant, tenant_server: str, django_db_blocker: Any
) -> None:
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        squad = make_squad("Capacity")
        member: Member = MemberFactory.create(capacity=1)
        join(squad, member)
        account = AccountFactory.create()
        session = session_for(member.user)
    port = urlsplit(tenant_server).port
    headers = {
        "Host": host_of(committed_tenant),
        "Cookie": f"{settings.SESSION_COOKIE_NAME}={session}; {settings.CSRF_COOKIE_NAME}={CSRF}",
        "X-CSRFToken": CSRF,
        "Content-Type": "application/json",
    }

    def claim(item_id: int, barrier: threading.Barrier, results: list[tuple[int, str]]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        barrier.wait()
        connection.request("POST", f"/api/v1/work-items/{item_id}/claim/", "{}", headers)
        response = connection.getresponse()
        body = json.loads(response.read())
        connection.close()
        results.append((response.status, body["error"]["message"] if "error" in body else ""))

    for held in range(ROUNDS):
        with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
            # One free place: the member holds `held` items and may hold one more.
            Member.objects.filter(pk=member.pk).update(capacity=held + 1)
            item_ids = [
                WorkItem.objects.create(queue=squad.queue, account=account, title=f"{held}-{n}").pk
                for n in range(2)
            ]
        results: list[tuple[int, str]] = []
        barrier = threading.Barrier(2)
        threads = [
            threading.Thread(target=claim, args=(item_id, barrier, results)) for item_id in item_ids
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(status for status, _ in results) == [200, 409], (held, results)
        refusal = next(message for status, message in results if status == 409)
        assert f"holds {held + 1} open items; their capacity is {held + 1}" in refusal

    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        assert WorkItem.objects.filter(assignee=member, status__in=OPEN_STATUSES).count() == ROUNDS
