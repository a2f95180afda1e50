"""The unmodified segment-analytics-python client delivers to Fullfield over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from django_tenants.utils import schema_context
from segment.analytics import Client
from segment.analytics.request import APIError

from apps.accounts.models import Contact, UsageEvent
from apps.integrations.models import Job
from apps.integrations.tests import test_ingest_live as live
from fullfield.tenancy.models import Tenant

write_key_for = live.write_key_for


def test_the_segment_library_lands_identify_group_track_and_page_in_the_tenant(
    tenant_server: str, committed_tenant: Tenant, localhost_subdomains: None
) -> None:
    errors: list[Any] = []
    client = Client(
        write_key_for(committed_tenant),
        host=f"{tenant_server}/api/v1/segment",
        gzip=True,
        max_retries=0,
        upload_interval=0.05,
        on_error=lambda error, batch: errors.append(error),
    )
    client.group("u-1", "acme", traits={"name": "Acme Inc.", "industry": "Rockets"})
    client.identify("u-1", traits={"email": "ada@acme.test", "name": "Ada"})
    client.track("u-1", "Report Exported", properties={"format": "pdf"}, message_id="m-1")
    client.page("u-1", "Docs", "Pricing", message_id="m-2")
    client.track("u-1", "Report Exported", properties={"format": "pdf"}, message_id="m-1")
    client.flush()
    client.join()

    assert errors == []
    with schema_context(committed_tenant.schema_name):
        contact = Contact.objects.select_related("account").get(external_id="u-1")
        assert contact.email == "ada@acme.test"
        assert contact.account.name == "Acme Inc."
        events = {event.idempotency_key: event for event in UsageEvent.objects.all()}
        assert set(events) == {"m-1", "m-2"}  # the repeated m-1 was stored once
        assert events["m-1"].account_id == contact.account_id
        assert events["m-2"].name == "Viewed Docs Pricing Page"
        jobs = Job.objects.filter(kind=Job.Kind.SEGMENT)
        assert sum(job.total for job in jobs) == 5
        # The second m-1 is stored once either way: a duplicate when the client sends both in one
        # batch, a conflict when they travel in two (the client stamps each call's own time).
        assert sum(job.duplicates + job.conflicts for job in jobs) == 1


def test_the_segment_library_in_sync_mode_sees_refusals_as_errors(
    tenant_server: str, committed_tenant: Tenant, localhost_subdomains: None
) -> None:
    client = Client(
        write_key_for(committed_tenant),
        host=f"{tenant_server}/api/v1/segment",
        sync_mode=True,
    )
    client.track("u-7", "Signed Up", context={"groupId": "globex"}, message_id="m-7")
    with schema_context(committed_tenant.schema_name):
        assert UsageEvent.objects.get().account.external_id == "globex"

    wrong_key = Client("not-a-key", host=f"{tenant_server}/api/v1/segment", sync_mode=True)
    with pytest.raises(APIError) as refused:
        wrong_key.track("u-7", "Signed Up", message_id="m-8")
    assert refused.value.status == 401
