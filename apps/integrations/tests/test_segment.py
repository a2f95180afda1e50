"""The Segment-compatible endpoint: Segment's HTTP tracking API mapped onto the account 360."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import orjson
import pytest

from apps.accounts.models import Account, Contact, UsageEvent
from apps.accounts.tests.rollup import assert_rollup_matches_events
from apps.integrations.models import Job
from fullfield.tenancy.models import Tenant
from tests.fixtures import TenantClient, World

BASE = "/api/v1/segment/v1"
NOW = datetime.now(UTC)


def basic(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


@pytest.fixture
def segment(world: World, make_api_key: Callable[..., str], tenant_a: Tenant) -> TenantClient:
    client = TenantClient(world.tenant_a)
    client.credentials(HTTP_AUTHORIZATION=basic(make_api_key(world.tenant_a)))
    return client


def call(client: TenantClient, path: str, body: Any, **headers: Any) -> Any:
    data: Any = body if isinstance(body, bytes) else msgspec.json.encode(body)
    return client.generic(
        "POST", f"{BASE}/{path}", data, content_type="application/json", **headers
    )


def track(message_id: str = "m-1", **overrides: Any) -> dict[str, Any]:
    message = {
        "type": "track",
        "messageId": message_id,
        "userId": "u-1",
        "event": "Report Exported",
        "properties": {"format": "pdf"},
        "context": {"groupId": "acme"},
        "timestamp": (NOW - timedelta(minutes=5)).isoformat(),
    }
    message.update(overrides)
    return message


def test_identify_creates_the_contact_on_its_account_with_its_traits(
    segment: TenantClient,
) -> None:
    response = call(
        segment,
        "identify",
        {
            "userId": "u-1",
            "traits": {
                "email": "Ada@Acme.test",
                "firstName": "Ada",
                "lastName": "L",
                "title": "CTO",
            },
            "context": {"groupId": "acme"},
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert (body["accepted"], body["rejected"]) == (1, 0)
    contact = Contact.objects.get(source_system="segment", external_id="u-1")
    assert (contact.email, contact.name, contact.title) == ("ada@acme.test", "Ada L", "CTO")
    assert contact.account.external_id == "acme"
    assert contact.account.source_system == "segment"


def test_identify_can_name_its_company_in_traits(segment: TenantClient) -> None:
    call(
        segment, "identify", {"userId": "u-2", "traits": {"company": {"id": 42, "name": "Globex"}}}
    )
    contact = Contact.objects.get(external_id="u-2")
    assert (contact.account.external_id, contact.account.name) == ("42", "Globex")


def test_identify_of_a_new_user_without_an_account_is_rejected_with_the_reason(
    segment: TenantClient,
) -> None:
    body = call(segment, "identify", {"userId": "u-3", "traits": {"email": "x@y.test"}}).json()
    assert body["success"] is False
    assert body["errors"][0]["field"] == "context.groupId"
    assert "needs an account" in body["errors"][0]["message"]
    assert not Contact.objects.exists()


def test_identify_updates_a_known_user_without_moving_it(segment: TenantClient) -> None:
    account = Account.objects.create(source_system="segment", external_id="acme", name="Acme")
    Contact.objects.create(source_system="segment", external_id="u-1", account=account, name="Ada")
    body = call(segment, "identify", {"userId": "u-1", "traits": {"title": "CEO"}}).json()
    assert body["accepted"] == 1
    contact = Contact.objects.get(external_id="u-1")
    assert (contact.name, contact.title, contact.account) == ("Ada", "CEO", account)


def test_group_upserts_the_account_and_links_the_user(segment: TenantClient) -> None:
    account = Account.objects.create(
        source_system="segment", external_id="acme", name="Acme", attributes={"seats": 5}
    )
    body = call(
        segment,
        "group",
        {
            "userId": "u-1",
            "groupId": "acme",
            "traits": {
                "name": "Acme Inc.",
                "industry": "Rockets",
                "website": "https://www.acme.test/about",
                "plan": "enterprise",
            },
        },
    ).json()

    assert (body["accepted"], body["rejected"]) == (1, 0)
    account.refresh_from_db()
    assert (account.name, account.industry, account.domain) == ("Acme Inc.", "Rockets", "acme.test")
    assert account.attributes == {"seats": 5, "plan": "enterprise"}
    assert Contact.objects.get(external_id="u-1").account == account


def test_group_with_invalid_traits_is_rejected_by_field(segment: TenantClient) -> None:
    body = call(segment, "group", {"userId": "u-1", "groupId": "g", "traits": {"name": ""}}).json()
    assert [(error["index"], error["field"]) for error in body["errors"]] == [(0, "traits.name")]
    assert not Account.objects.exists()


def test_track_becomes_a_usage_event_deduplicated_by_message_id(segment: TenantClient) -> None:
    first = call(segment, "track", track()).json()
    again = call(segment, "track", track()).json()

    assert (first["accepted"], first["duplicates"]) == (1, 0)
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    stored = UsageEvent.objects.get()
    assert stored.idempotency_key == "m-1"
    assert stored.name == "Report Exported"
    assert stored.properties == {"format": "pdf"}
    assert stored.account.external_id == "acme"
    assert stored.contact is not None and stored.contact.external_id == "u-1"


def test_track_of_a_known_user_without_group_uses_the_users_account(
    segment: TenantClient,
) -> None:
    account = Account.objects.create(source_system="crm", external_id="A-1", name="Acme")
    Contact.objects.create(source_system="segment", external_id="u-1", account=account)
    body = call(segment, "track", track(context={})).json()
    assert body["accepted"] == 1
    assert UsageEvent.objects.get().account == account


def test_track_whose_account_cannot_be_determined_is_rejected_with_the_reason(
    segment: TenantClient,
) -> None:
    anonymous = track(context={}, userId=None, anonymousId="anon-1")
    unknown_user = track("m-2", context={}, userId="stranger")
    body = call(segment, "batch", {"batch": [anonymous, unknown_user]}).json()

    assert body["success"] is False
    assert (body["accepted"], body["rejected"]) == (0, 2)
    assert [error["field"] for error in body["errors"]] == ["context.groupId", "context.groupId"]
    assert all("could not be determined" in error["message"] for error in body["errors"])
    assert not UsageEvent.objects.exists()


def test_page_calls_are_named_like_segment_names_them(segment: TenantClient) -> None:
    call(segment, "page", {**track("p-1"), "type": "page", "name": "Pricing", "category": "Docs"})
    call(segment, "page", {**track("p-2"), "type": "page"})
    names = set(UsageEvent.objects.values_list("name", flat=True))
    assert names == {"Viewed Docs Pricing Page", "Loaded a Page"}


def test_a_batch_applies_groups_and_identifies_before_the_events_that_rely_on_them(
    segment: TenantClient,
) -> None:
    batch = [
        track("m-1", context={}, userId="u-9"),
        {"type": "identify", "userId": "u-9", "traits": {"email": "n@initech.test"}},
        {"type": "group", "userId": "u-9", "groupId": "initech", "traits": {"name": "Initech"}},
        {"type": "alias", "userId": "u-9", "previousId": "anon"},
    ]
    body = call(segment, "batch", {"batch": batch}).json()

    assert (body["accepted"], body["rejected"]) == (3, 1)
    assert body["errors"] == [
        {"index": 3, "field": "type", "message": body["errors"][0]["message"]}
    ]
    assert "alias is not supported" in body["errors"][0]["message"]
    event = UsageEvent.objects.get()
    assert event.account.name == "Initech"
    assert event.contact is not None and event.contact.email == "n@initech.test"


def test_batch_messages_are_validated_by_position_and_field(segment: TenantClient) -> None:
    batch = [
        track("m-1"),
        {"type": "track", "messageId": "m-2", "userId": "u-1", "context": {"groupId": "acme"}},
        {"type": "nonsense"},
        track("m-4", timestamp="2024-05-01T12:00:00"),
        {"type": "group", "traits": {}},
        "text",
    ]
    body = call(segment, "batch", {"batch": batch}).json()
    assert [(error["index"], error["field"]) for error in body["errors"]] == [
        (1, "event"),
        (2, "type"),
        (3, "timestamp"),
        (4, "groupId"),
        (5, ""),
    ]
    assert body["accepted"] == 1
    assert UsageEvent.objects.count() == 1


def test_unknown_accounts_are_refused_when_the_tenant_says_so(
    segment: TenantClient, tenant_a: Tenant
) -> None:
    Tenant.objects.filter(pk=tenant_a.pk).update(ingest_creates_unknown_accounts=False)
    body = call(
        segment,
        "batch",
        {
            "batch": [
                track("m-1"),
                {"type": "group", "groupId": "new", "traits": {"name": "New"}},
                {"type": "identify", "userId": "u-5", "context": {"groupId": "acme"}},
            ]
        },
    ).json()
    assert body["rejected"] == 3
    assert not Account.objects.exists()
    assert not Contact.objects.exists()


def test_each_request_is_recorded_as_a_segment_job(segment: TenantClient) -> None:
    body = call(segment, "batch", {"batch": [track("m-1"), track("m-2", event="")]}).json()
    job = Job.objects.get(pk=body["job"])
    assert job.kind == Job.Kind.SEGMENT
    assert (job.total, job.accepted, job.rejected) == (2, 1, 1)
    assert job.status == Job.Status.PARTIAL
    assert job.parameters["endpoint"] == "batch"


def test_paths_work_with_and_without_a_trailing_slash(segment: TenantClient) -> None:
    assert call(segment, "track", track("m-1")).status_code == 200
    assert call(segment, "track/", track("m-2")).status_code == 200
    assert call(segment, "batch/", {"batch": [track("m-3")]}).status_code == 200
    assert UsageEvent.objects.count() == 3


def test_gzip_bodies_as_segment_libraries_send_them(segment: TenantClient) -> None:
    body = gzip.compress(orjson.dumps({"batch": [track("m-1")]}))
    response = call(segment, "batch", body, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 200
    assert response.json()["accepted"] == 1


def test_the_write_key_must_be_a_read_write_key_of_this_tenant(
    world: World, make_api_key: Callable[..., str], tenant_a: Tenant
) -> None:
    client = TenantClient(world.tenant_a)
    response = call(client, "track", track())
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")

    client.credentials(HTTP_AUTHORIZATION=basic("not-a-key"))
    assert call(client, "track", track()).status_code == 401

    client.credentials(HTTP_AUTHORIZATION=basic(make_api_key(world.tenant_a, "read")))
    assert call(client, "track", track()).status_code == 403

    client.credentials(HTTP_AUTHORIZATION=basic(make_api_key(world.tenant_b)))
    assert call(client, "track", track()).status_code == 401

    client.credentials(HTTP_AUTHORIZATION="Basic %%%")
    assert call(client, "track", track()).status_code == 401
    assert not UsageEvent.objects.exists()


def test_an_unusable_body_is_a_400(segment: TenantClient) -> None:
    assert call(segment, "batch", b"{oops").status_code == 400
    assert call(segment, "batch", {"batch": []}).status_code == 400
    assert call(segment, "track", b"[1]").status_code == 400


def test_traits_that_cannot_be_stored_as_json_are_refused_by_field(segment: TenantClient) -> None:
    deep: dict[str, Any] = {}
    for _ in range(40):
        deep = {"level": deep}
    body = call(
        segment,
        "batch",
        {
            "batch": [
                {"type": "group", "groupId": "g1", "traits": {"nested": deep}},
                {"type": "group", "groupId": "g2", "traits": {"employees": 2**70}},
            ]
        },
    ).json()
    assert [(error["index"], error["field"]) for error in body["errors"]] == [
        (0, "traits"),
        (1, "traits"),
    ]
    assert "nested" in body["errors"][0]["message"]
    assert "64 bits" in body["errors"][1]["message"]
    assert not Account.objects.exists()


def test_track_calls_are_counted_in_the_daily_rollup_once_per_message_id(
    segment: TenantClient,
) -> None:
    call(segment, "batch", {"batch": [track("m-1"), track("m-2"), track("m-1")]})
    again = call(segment, "track", track("m-2", properties={"format": "csv"})).json()

    assert (again["accepted"], again["duplicates"], again["conflicts"]) == (0, 0, 1)
    account = Account.objects.get(external_id="acme")
    day = (NOW - timedelta(minutes=5)).astimezone(UTC).date()
    assert assert_rollup_matches_events() == {(account.pk, day, "Report Exported", 2, 2.0)}
