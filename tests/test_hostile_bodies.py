"""Hostile request bodies get a clear 4xx in the one error shape on every JSON endpoint."""

from __future__ import annotations

import base64
import io
import tracemalloc
from datetime import UTC, datetime
from typing import Any

import pytest

from apps.accounts.tests.factories import AccountFactory
from apps.integrations.ingest.validation import batch_decode
from fullfield.api.parsers import INT_RANGE_MESSAGE, JSON_MAX_DEPTH
from fullfield.errors import PayloadTooLarge
from fullfield.tenancy.models import Tenant
from tests.fixtures import TenantClient, World

BIG = b"18446744073709551616"  # 2**64
DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000


def deep_object(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


def post_raw(
    client: TenantClient, path: str, body: bytes, method: str = "post", **extra: Any
) -> Any:
    return getattr(client, method)(path, data=body, content_type="application/json", **extra)


def assert_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"code", "message", "fields"}
    return error


@pytest.mark.parametrize(
    "path", ["/api/v1/accounts/", "/api/v1/accounts/bulk/", "/api/v1/contacts/"]
)
def test_a_hundred_thousand_nested_arrays_are_a_400_not_a_server_error(
    api_a: TenantClient, path: str
) -> None:
    error = assert_error(post_raw(api_a, path, DEEP_ARRAY), 400)
    assert f"at most {JSON_MAX_DEPTH} levels" in error["message"]


def test_attributes_nested_deeper_than_the_limit_are_refused_and_nothing_is_stored(
    api_a: TenantClient,
) -> None:
    inside = b'{"name":"Deep","attributes":' + deep_object(20_000) + b"}"
    assert_error(post_raw(api_a, "/api/v1/accounts/", inside), 400)
    just_over = b'{"name":"Deep","attributes":' + deep_object(JSON_MAX_DEPTH) + b"}"
    assert_error(post_raw(api_a, "/api/v1/accounts/", just_over), 400)
    within = b'{"name":"Deep","attributes":' + deep_object(JSON_MAX_DEPTH - 2) + b"}"
    assert post_raw(api_a, "/api/v1/accounts/", within).status_code == 201
    assert [a["name"] for a in api_a.get("/api/v1/accounts/").json()["results"]] == ["Deep"]


def test_an_integer_of_two_to_the_64_is_refused_by_field_on_create_patch_and_bulk(
    tenant_a: Tenant, api_a: TenantClient
) -> None:
    create = post_raw(api_a, "/api/v1/accounts/", b'{"name":"x","attributes":{"a":' + BIG + b"}}")
    assert assert_error(create, 400)["fields"] == {"attributes": {"a": [INT_RANGE_MESSAGE]}}
    account = AccountFactory.create()
    patch = post_raw(
        api_a, f"/api/v1/accounts/{account.id}/", b'{"attributes":{"a":' + BIG + b"}}", "patch"
    )
    assert "attributes" in assert_error(patch, 400)["fields"]
    bulk = post_raw(
        api_a,
        "/api/v1/accounts/bulk/",
        b'{"items":[{"external_id":"b1","name":"x","attributes":{"n":-' + BIG + b"}}]}",
    )
    assert assert_error(bulk, 400)["fields"] == {
        "items": {"0": {"attributes": {"n": [INT_RANGE_MESSAGE]}}}
    }
    account.refresh_from_db()
    assert account.attributes.get("a") is None


def test_an_integer_of_two_to_the_64_in_usage_event_properties_is_refused_by_field(
    tenant_a: Tenant, api_a: TenantClient
) -> None:
    account = AccountFactory.create()
    body = (
        b'{"account":%d,"name":"x","occurred_at":"2025-03-04T10:00:00Z","properties":{"n":%s}}'
        % (account.id, BIG)
    )
    error = assert_error(post_raw(api_a, "/api/v1/usage-events/", body), 400)
    assert list(error["fields"]) == ["properties"]


def test_the_largest_64_bit_integers_are_still_accepted(api_a: TenantClient) -> None:
    body = b'{"name":"x","attributes":{"a":18446744073709551615,"b":-9223372036854775808}}'
    response = post_raw(api_a, "/api/v1/accounts/", body)
    assert response.status_code == 201
    assert response.json()["attributes"] == {"a": 2**64 - 1, "b": -(2**63)}


@pytest.mark.parametrize(
    ("path", "auth"),
    [
        ("/api/v1/events/batch/", None),
        ("/api/v1/segment/v1/identify", "segment"),
        ("/api/v1/accounts/", None),
    ],
)
def test_invalid_utf8_is_a_400_on_every_body_reader(
    world: World, make_api_key: Any, path: str, auth: str | None
) -> None:
    key = make_api_key(world.tenant_a)
    client = TenantClient(world.tenant_a).use_api_key(key)
    extra = {}
    if auth == "segment":
        extra["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    body = b'{"userId":"u\xff\xfe","name":"\xc3\x28","events":[]}'
    error = assert_error(post_raw(client, path, body, **extra), 400)
    assert "UTF-8" in error["message"]


def test_a_big_integer_or_deep_properties_in_an_ingested_event_reject_that_event_only(
    tenant_a: Tenant, api_a: TenantClient
) -> None:
    AccountFactory.create(external_id="acme", source_system="api")
    event = (
        b'{"id":"e%d","account_external_id":"acme","name":"x",'
        b'"occurred_at":"2025-03-04T10:00:00Z","properties":%s}'
    )
    body = b'{"events":[%s,%s,%s]}' % (
        event % (1, b'{"n":' + BIG + b"}"),
        event % (2, deep_object(300)),
        event % (3, b'{"n":1}'),
    )
    response = post_raw(api_a, "/api/v1/events/batch/", body)
    assert response.status_code == 202, response.content[:300]
    result = response.json()
    assert (result["accepted"], result["rejected"]) == (1, 2)
    assert sorted((e["index"], e["field"]) for e in result["errors"]) == [
        (0, "properties"),
        (1, "properties"),
    ]


@pytest.mark.parametrize(
    ("path", "limit"),
    [("/api/v1/accounts/bulk/", 2_621_440), ("/api/v1/events/batch/", 5_242_880)],
)
def test_an_over_size_body_is_a_413_naming_the_limit_before_it_is_read(
    api_a: TenantClient, path: str, limit: int
) -> None:
    class Unreadable(io.RawIOBase):
        def read(self, size: int = -1) -> bytes:
            raise AssertionError("the body was read")

    environ: dict[str, Any] = {"wsgi.input": Unreadable(), "CONTENT_LENGTH": str(limit + 1)}
    response = api_a.generic("POST", path, content_type="application/json", **environ)
    error = assert_error(response, 413)
    assert f"{limit:,} bytes" in error["message"]


def test_a_body_over_the_limit_is_a_413_naming_it(api_a: TenantClient) -> None:
    body = b'{"items":[' + b'{"name":"x"},' * 300_000 + b'{"name":"x"}]}'
    response = api_a.post("/api/v1/accounts/bulk/", data=body, content_type="application/json")
    error = assert_error(response, 413)
    assert "2,621,440 bytes" in error["message"]


def test_an_over_size_sign_in_form_is_a_413_not_a_bare_400(client_a: TenantClient) -> None:
    response = client_a.post(
        "/login/",
        data=b"username=a&password=" + b"x" * 3_000_000,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    assert "2,621,440 bytes" in response.json()["error"]["message"]


def test_five_megabytes_of_empty_events_are_refused_without_building_them() -> None:
    body = b'{"events":[' + b"{}," * 1_699_999 + b"{}]}"
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge, match="at most 10,000 events"):
            batch_decode(body, now=datetime.now(UTC))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 1024 * 1024, f"{peak:,} bytes"


def test_a_full_batch_with_per_event_errors_is_still_read() -> None:
    event = (
        b'{"id":"e%d","account_external_id":"a","name":"x","occurred_at":"soon",'
        b'"properties":{"k":[1,{"n":2}]}}'
    )
    body = b'{"events":[' + b",".join(event % n for n in range(10_000)) + b"]}"
    decoded = batch_decode(body, now=datetime.now(UTC))
    assert decoded.total == 10_000 and len(decoded.errors) == 10_000
