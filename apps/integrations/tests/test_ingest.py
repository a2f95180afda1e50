"""POST /api/v1/events/batch/: validation by position and field, idempotency, accounts, limits."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from django.test import RequestFactory
from django_tenants.utils import schema_context

from apps.accounts.models import Account, Contact, UsageEvent
from apps.accounts.tests.rollup import assert_rollup_matches_events
from apps.integrations.ingest.request_body import MAX_BODY_BYTES, PayloadTooLarge, read_body
from apps.integrations.ingest.validation import FAST_PROPERTY_DEPTH, MAX_EVENTS
from apps.integrations.models import Job
from fullfield.api.parsers import JSON_MAX_DEPTH
from fullfield.tenancy.models import Tenant
from tests.fixtures import TenantClient, World

URL = "/api/v1/events/batch/"
NOW = datetime.now(UTC)


def event(index: int, **overrides: Any) -> dict[str, Any]:
    base = {
        "id": f"evt-{index}",
        "account_external_id": "acme",
        "contact_external_id": "user-1",
        "name": "report.exported",
        "occurred_at": (NOW - timedelta(minutes=index)).isoformat(),
        "value": 2,
        "properties": {"format": "pdf", "pages": index},
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not ...}


def post(client: TenantClient, body: Any, **headers: Any) -> Any:
    data: Any = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.generic("POST", URL, data, content_type="application/json", **headers)


@pytest.fixture
def acme(tenant_a: Tenant) -> Account:
    return Account.objects.create(name="Acme", external_id="acme")


def test_a_valid_batch_is_stored_and_answered_with_counts(
    api_a: TenantClient, acme: Account
) -> None:
    response = post(api_a, {"events": [event(0), event(1, value=...)]})

    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 2
    assert body["duplicates"] == 0
    assert body["rejected"] == 0
    assert body["errors"] == []
    stored = {item.idempotency_key: item for item in UsageEvent.objects.all()}
    assert set(stored) == {"evt-0", "evt-1"}
    assert stored["evt-0"].account_id == acme.pk
    assert stored["evt-0"].value == 2
    assert stored["evt-1"].value == 1  # the default
    assert stored["evt-0"].properties == {"format": "pdf", "pages": 0}
    assert stored["evt-0"].contact is not None
    assert stored["evt-0"].contact.external_id == "user-1"
    assert stored["evt-0"].name == "report.exported"


def test_occurred_at_keeps_its_instant_whatever_the_offset(
    api_a: TenantClient, acme: Account
) -> None:
    post(api_a, {"events": [event(0, occurred_at="2024-05-01T14:00:00+02:00")]})
    stored = UsageEvent.objects.get()
    assert stored.occurred_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_invalid_events_are_reported_by_position_and_field_and_the_rest_stored(
    api_a: TenantClient, acme: Account
) -> None:
    events = [
        event(0),
        event(1, occurred_at="2024-05-01T12:00:00"),
        event(2),
        event(3, value="lots", name=""),
        event(4, occurred_at=(NOW + timedelta(days=2)).isoformat()),
        {"id": "evt-5"},
        event(6, colour="blue"),
        "not an object",
        event(8, properties=["a"], id="x" * 201),
    ]
    response = post(api_a, {"events": events})

    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 0, 7)
    errors = {(error["index"], error["field"]) for error in body["errors"]}
    assert errors == {
        (1, "occurred_at"),
        (3, "value"),
        (3, "name"),
        (4, "occurred_at"),
        (5, "account_external_id"),
        (5, "name"),
        (5, "occurred_at"),
        (6, "colour"),
        (7, ""),
        (8, "properties"),
        (8, "id"),
    }
    messages = {(error["index"], error["field"]): error["message"] for error in body["errors"]}
    assert "timezone offset" in messages[(1, "occurred_at")]
    assert "in the future" in messages[(4, "occurred_at")]
    assert messages[(5, "name")] == "This field is required."
    assert messages[(6, "colour")] == "Unknown field."
    assert [error["index"] for error in body["errors"]] == sorted(
        error["index"] for error in body["errors"]
    )
    assert set(UsageEvent.objects.values_list("idempotency_key", flat=True)) == {"evt-0", "evt-2"}


def test_nul_characters_are_refused_by_field_not_by_a_server_error(
    api_a: TenantClient, acme: Account
) -> None:
    response = post(
        api_a,
        {"events": [event(0, name="bad\u0000name"), event(1, properties={"k": "v\u0000"})]},
    )
    assert response.status_code == 202
    fields = {(error["index"], error["field"]) for error in response.json()["errors"]}
    assert fields == {(0, "name"), (1, "properties")}
    assert not UsageEvent.objects.exists()


def test_reposting_a_batch_stores_nothing_twice_and_counts_duplicates(
    api_a: TenantClient, acme: Account
) -> None:
    batch = {"events": [event(index) for index in range(5)]}
    assert post(api_a, batch).json()["accepted"] == 5

    again = post(api_a, {"events": [*batch["events"], event(5)]}).json()

    assert (again["accepted"], again["duplicates"], again["rejected"]) == (1, 5, 0)
    assert UsageEvent.objects.count() == 6


def test_an_id_repeated_within_one_batch_is_stored_once(api_a: TenantClient, acme: Account) -> None:
    response = post(api_a, {"events": [event(0), event(0), event(0, name="other.name")]}).json()
    # The same body again is a duplicate; another body under the same id is a conflict.
    assert (response["accepted"], response["duplicates"], response["conflicts"]) == (1, 1, 1)
    assert response["conflict_indexes"] == [2]
    assert UsageEvent.objects.get().name == "report.exported"  # the first one wins


def test_unknown_accounts_and_contacts_are_created_when_the_tenant_allows_it(
    api_a: TenantClient, tenant_a: Tenant
) -> None:
    events = [
        event(0, account_external_id="newco", contact_external_id="u-9"),
        event(1, account_external_id="newco", contact_external_id=None),
    ]
    response = post(api_a, {"events": events}).json()

    assert response["accepted"] == 2
    account = Account.objects.get(source_system="api", external_id="newco")
    assert account.name == "newco"
    assert account.currency == tenant_a.currency
    contact = Contact.objects.get(source_system="api", external_id="u-9")
    assert contact.account == account
    assert UsageEvent.objects.filter(account=account).count() == 2


def test_unknown_accounts_are_rejected_when_the_tenant_says_so(
    api_a: TenantClient, acme: Account, tenant_a: Tenant
) -> None:
    Tenant.objects.filter(pk=tenant_a.pk).update(ingest_creates_unknown_accounts=False)
    Contact.objects.create(account=acme, external_id="user-1")
    events = [
        event(0),
        event(1, account_external_id="stranger"),
        event(2, contact_external_id="nobody"),
    ]
    response = post(api_a, {"events": events}).json()

    assert (response["accepted"], response["rejected"]) == (1, 2)
    assert [(error["index"], error["field"]) for error in response["errors"]] == [
        (1, "account_external_id"),
        (2, "contact_external_id"),
    ]
    assert "No account with external id 'stranger'" in response["errors"][0]["message"]
    assert not Account.objects.filter(external_id="stranger").exists()
    assert not Contact.objects.filter(external_id="nobody").exists()


def test_accounts_are_matched_within_the_named_source_system(
    api_a: TenantClient, acme: Account
) -> None:
    crm_acme = Account.objects.create(name="Acme (CRM)", source_system="crm", external_id="acme")
    post(api_a, {"source_system": "crm", "events": [event(0, contact_external_id=None)]})
    assert UsageEvent.objects.get().account == crm_acme


def test_touched_accounts_are_marked_for_rescoring_and_announced(
    api_a: TenantClient,
    acme: Account,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from fullfield import events as domain_events
    from fullfield.celery_app import app

    untouched = Account.objects.create(name="Quiet", external_id="quiet")
    sent: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(app, "send_task", lambda name, kwargs: sent.append((name, kwargs)))
    monkeypatch.setitem(domain_events._subscribers, "accounts.touched", ["scoring.recompute"])

    with django_capture_on_commit_callbacks(execute=True):
        post(api_a, {"events": [event(0), event(1, account_external_id="other")]})

    acme.refresh_from_db()
    untouched.refresh_from_db()
    assert acme.rescore_requested_at is not None
    assert untouched.rescore_requested_at is None
    other = Account.objects.get(external_id="other")
    assert sent == [
        (
            "scoring.recompute",
            {"event": "accounts.touched", "account_ids": sorted([acme.pk, other.pk])},
        )
    ]


def test_each_batch_is_recorded_as_a_job_with_counts_errors_and_timing(
    api_a: TenantClient, acme: Account
) -> None:
    response = post(api_a, {"events": [event(0), event(1, name="")]}).json()

    job = Job.objects.get(pk=response["job"])
    assert job.kind == Job.Kind.EVENT_BATCH
    assert job.status == Job.Status.PARTIAL
    assert (job.total, job.processed, job.accepted, job.rejected) == (2, 2, 1, 1)
    assert job.errors == [response["errors"][0]]
    assert job.api_key is not None
    assert job.started_at is not None and job.finished_at is not None
    assert job.started_at <= job.finished_at


def test_a_batch_of_only_invalid_events_is_a_failed_job(api_a: TenantClient, acme: Account) -> None:
    response = post(api_a, {"events": [event(0, name="")]}).json()
    assert response["accepted"] == 0
    assert Job.objects.get(pk=response["job"]).status == Job.Status.FAILED


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (orjson.dumps({"events": []}), "events"),
        (orjson.dumps({"events": {"a": 1}}), "events"),
        (orjson.dumps({"event": []}), "event"),
        (orjson.dumps({"events": [event(0)], "source_system": ""}), "source_system"),
    ],
)
def test_an_unusable_body_is_a_400_naming_the_problem_and_stores_nothing(
    api_a: TenantClient, acme: Account, body: bytes, field: str | None
) -> None:
    response = post(api_a, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"]
    if field:
        assert field in error["fields"]
    assert not UsageEvent.objects.exists()
    assert not Job.objects.exists()


def test_more_events_than_the_limit_is_a_413_naming_the_limit(
    api_a: TenantClient, acme: Account
) -> None:
    tiny = {
        "id": "e",
        "account_external_id": "a",
        "name": "n",
        "occurred_at": "2024-01-01T00:00:00Z",
    }
    response = post(api_a, {"events": [tiny] * (MAX_EVENTS + 1)})
    assert response.status_code == 413
    assert f"{MAX_EVENTS:,} events" in response.json()["error"]["message"]
    assert not UsageEvent.objects.exists()


def test_a_body_over_five_megabytes_is_a_413_before_it_is_read(
    api_a: TenantClient, acme: Account
) -> None:
    padding = "x" * 1000
    events = [event(index, properties={"pad": padding}) for index in range(5300)]
    body = orjson.dumps({"events": events})
    assert len(body) > MAX_BODY_BYTES
    response = post(api_a, body)
    assert response.status_code == 413
    assert "5 MB" in response.json()["error"]["message"]


class _UnreadableStream:
    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read although its Content-Length is over the limit")


def test_an_oversized_content_length_is_refused_without_reading_the_body() -> None:
    request = RequestFactory().post(URL, b"{}", content_type="application/json")
    request.META["CONTENT_LENGTH"] = str(MAX_BODY_BYTES + 1)
    request._stream = _UnreadableStream()  # type: ignore[assignment]
    with pytest.raises(PayloadTooLarge, match="limit is 5,242,880 bytes"):
        read_body(request)


def test_a_body_without_a_length_header_is_still_capped_as_it_is_read() -> None:
    request = RequestFactory().post(URL, b"{}", content_type="application/json")
    del request.META["CONTENT_LENGTH"]
    request._stream = io.BytesIO(b" " * (MAX_BODY_BYTES + 1))
    with pytest.raises(PayloadTooLarge, match="more than 5,242,880 bytes"):
        read_body(request)


def test_gzip_bodies_are_accepted_and_capped_once_inflated(
    api_a: TenantClient, acme: Account
) -> None:
    body = gzip.compress(orjson.dumps({"events": [event(0)]}))
    response = post(api_a, body, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 202
    assert response.json()["accepted"] == 1

    bomb = gzip.compress(b" " * (MAX_BODY_BYTES + 1))
    assert len(bomb) < 100_000
    response = post(api_a, bomb, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413

    response = post(api_a, b"not gzip", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400

    response = post(api_a, body, HTTP_CONTENT_ENCODING="br")
    assert response.status_code == 415


def test_a_read_only_key_cannot_ingest(
    world: World, make_api_key: Callable[..., str], acme: Account
) -> None:
    reader = TenantClient(world.tenant_a).use_api_key(make_api_key(world.tenant_a, "read"))
    response = post(reader, {"events": [event(0)]})
    assert response.status_code == 403
    assert not UsageEvent.objects.exists()


def test_anonymous_callers_are_refused(client_a: TenantClient, acme: Account) -> None:
    assert post(client_a, {"events": [event(0)]}).status_code == 401


def test_events_land_in_the_tenant_of_the_key_only(
    world: World, make_api_key: Callable[..., str], db: None
) -> None:
    client_b = TenantClient(world.tenant_b).use_api_key(make_api_key(world.tenant_b))
    assert post(client_b, {"events": [event(0)]}).status_code == 202
    with schema_context(world.tenant_b.schema_name):
        assert UsageEvent.objects.count() == 1
    with schema_context(world.tenant_a.schema_name):
        assert not UsageEvent.objects.exists()
    key_a = make_api_key(world.tenant_a)
    assert (
        post(TenantClient(world.tenant_b).use_api_key(key_a), {"events": [event(1)]}).status_code
        == 401
    )


def test_a_body_nested_beyond_what_a_parser_can_follow_is_a_400(
    api_a: TenantClient, acme: Account
) -> None:
    body = b'{"events": [{"properties": ' + b"[" * 5000 + b"]" * 5000 + b"}]}"
    response = post(api_a, body)
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["error"]["message"]


def test_properties_deep_or_with_large_integers_within_the_limits_are_stored_exactly(
    api_a: TenantClient, acme: Account
) -> None:
    # Beyond what the fast decoding's type allows (FAST_PROPERTY_DEPTH levels, int64), but
    # within the API's limits (JSON_MAX_DEPTH levels, integers up to 2^64 - 1).
    deep: Any = 1
    for _ in range(JSON_MAX_DEPTH - 1):
        deep = {"a": deep}
    properties = [
        {"n": 2**64 - 1, "m": -(2**63)},
        deep,
        {"k": [[{"a": [1, 2.5, None, True, "x"]}]]},
    ]
    response = post(api_a, {"events": [event(i, properties=p) for i, p in enumerate(properties)]})

    assert (response.json()["accepted"], response.json()["rejected"]) == (3, 0)
    stored = dict(UsageEvent.objects.values_list("idempotency_key", "properties"))
    assert stored == {f"evt-{i}": p for i, p in enumerate(properties)}
    assert FAST_PROPERTY_DEPTH < JSON_MAX_DEPTH


def test_stored_events_are_counted_in_the_daily_rollup_and_duplicates_add_nothing(
    api_a: TenantClient, acme: Account
) -> None:
    day = datetime(2024, 5, 1, 12, tzinfo=UTC)
    batch = {"events": [event(i, occurred_at=day.isoformat()) for i in range(3)]}
    post(api_a, batch)
    again = post(api_a, {"events": [*batch["events"], event(3, occurred_at=day.isoformat())]})

    assert (again.json()["accepted"], again.json()["duplicates"]) == (1, 3)
    assert assert_rollup_matches_events() == {(acme.pk, day.date(), "report.exported", 4, 8.0)}


def test_an_id_sent_again_with_another_body_is_a_conflict_and_the_first_write_wins(
    api_a: TenantClient, acme: Account
) -> None:
    post(api_a, {"events": [event(0), event(1)]})

    again = post(api_a, {"events": [event(0), event(1, value=7), event(2)]}).json()

    assert (again["accepted"], again["duplicates"], again["conflicts"]) == (1, 1, 1)
    assert again["conflict_indexes"] == [1]
    assert again["rejected"] == 0
    assert UsageEvent.objects.get(idempotency_key="evt-1").value == 2
    job = Job.objects.get(pk=again["job"])
    assert (job.conflicts, job.conflict_indexes, job.duplicates) == (1, [1], 1)
    shown = api_a.get(f"/api/v1/jobs/{job.pk}/").json()
    assert (shown["conflicts"], shown["conflict_indexes"]) == (1, [1])


def test_the_response_and_the_job_name_the_accounts_and_contacts_an_ingest_created(
    api_a: TenantClient, acme: Account
) -> None:
    Account.objects.create(name="Acme (CRM)", source_system="crm", external_id="acc-1")
    events = [
        event(0, account_external_id="acme", contact_external_id="u-1"),
        # A wrong source system: acc-1 exists under "crm", so the batch's "api" creates another.
        event(1, account_external_id="acc-1", contact_external_id=None),
        event(2, account_external_id="newco", contact_external_id="u-2"),
    ]
    body = post(api_a, {"events": events}).json()

    expected = {
        "accounts": {"count": 2, "external_ids": ["acc-1", "newco"]},
        "contacts": {"count": 2, "external_ids": ["u-1", "u-2"]},
    }
    assert body["created"] == expected
    assert Job.objects.get(pk=body["job"]).created_records == expected
    assert api_a.get(f"/api/v1/jobs/{body['job']}/").json()["created_records"] == expected
    nothing_new = post(api_a, {"events": [event(3, account_external_id="newco")]}).json()
    assert nothing_new["created"]["accounts"] == {"count": 0, "external_ids": []}
