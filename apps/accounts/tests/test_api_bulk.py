"""POST /api/v1/<resource>/bulk/: upsert by external id through the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import models
from django_tenants.utils import schema_context

from apps.accounts.models import Account, Contact, Lead, Opportunity, Subscription
from apps.accounts.services.bulk import BULK_MAX_ITEMS
from apps.accounts.tests.factories import AccountFactory
from fullfield.tenancy.models import Tenant
from tests.fixtures import TenantClient, World

pytestmark = pytest.mark.usefixtures("tenant_a")

# For each resource: a valid new item, a change to it, and an item with a bad field.
CASES: dict[str, tuple[type[models.Model], dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "accounts": (
        Account,
        {"name": "Acme", "segment": "smb"},
        {"segment": "enterprise"},
        {"name": "Bad", "lifecycle_stage": "asleep"},
    ),
    "contacts": (
        Contact,
        {"account_external_id": "acc", "email": "pat@example.com"},
        {"is_champion": True},
        {"account_external_id": "acc", "email": "not-an-email"},
    ),
    "leads": (
        Lead,
        {"email": "lee@example.com", "status": "working"},
        {"status": "qualified"},
        {"status": "converted"},
    ),
    "opportunities": (
        Opportunity,
        {"account_external_id": "acc", "name": "Deal", "amount": "100.00"},
        {"stage": "negotiation"},
        {"account_external_id": "acc", "name": "Deal", "amount": "12.345"},
    ),
    "subscriptions": (
        Subscription,
        {"account_external_id": "acc", "plan": "pro", "mrr": "50", "period_start": "2025-01-01"},
        {"quantity": 4},
        {
            "account_external_id": "acc",
            "plan": "pro",
            "mrr": "50",
            "period_start": "2025-01-01",
            "period_end": "2024-01-01",
        },
    ),
}
by_resource = pytest.mark.parametrize("resource", list(CASES))


def bulk(client: TenantClient, resource: str, items: list[Any]) -> Any:
    return client.post(f"/api/v1/{resource}/bulk/", {"items": items})


@by_resource
def test_one_result_per_item_created_updated_or_error(api_a: TenantClient, resource: str) -> None:
    model, new, change, bad = CASES[resource]
    AccountFactory.create(source_system="crm", external_id="acc")
    first = bulk(api_a, resource, [{"source_system": "crm", "external_id": "r1", **new}])
    assert first.json()["results"][0]["status"] == "created", first.content
    record_id = first.json()["results"][0]["id"]

    response = bulk(
        api_a,
        resource,
        [
            {"source_system": "crm", "external_id": "r1", **change},
            {"source_system": "crm", "external_id": "r2", **bad},
            {"source_system": "crm", "external_id": "r3", **new},
        ],
    )
    assert response.status_code == 200
    body = response.json()
    assert [(r["index"], r["status"]) for r in body["results"]] == [
        (0, "updated"),
        (1, "error"),
        (2, "created"),
    ]
    assert body["results"][0]["id"] == record_id
    assert body["results"][1]["id"] is None
    assert body["results"][1]["errors"], "the error names its field"
    assert body["summary"] == {"created": 1, "updated": 1, "error": 1}
    stored = model._default_manager.filter(source_system="crm")
    assert sorted(stored.values_list("external_id", flat=True)) == (
        ["acc", "r1", "r3"] if resource == "accounts" else ["r1", "r3"]
    )
    for field, value in change.items():
        assert str(getattr(stored.get(external_id="r1"), field)) == str(value)


@by_resource
def test_posting_the_same_items_twice_changes_nothing(api_a: TenantClient, resource: str) -> None:
    model, new, _, _ = CASES[resource]
    AccountFactory.create(source_system="api", external_id="acc")
    items = [{"external_id": f"r{n}", **new} for n in range(3)]
    first = bulk(api_a, resource, items).json()["results"]
    count = model._default_manager.count()
    second = bulk(api_a, resource, items).json()["results"]
    assert [r["status"] for r in second] == ["updated"] * 3
    assert [r["id"] for r in second] == [r["id"] for r in first]
    assert model._default_manager.count() == count


def test_a_bad_item_is_not_half_written(api_a: TenantClient) -> None:
    response = bulk(
        api_a,
        "accounts",
        [{"external_id": "half", "name": "Good name", "segment": "x" * 51, "region": "emea"}],
    )
    assert response.json()["results"][0]["errors"] == {"segment": ["At most 50 characters."]}
    assert not Account.objects.filter(external_id="half").exists()


def test_more_items_than_the_limit_are_refused_naming_the_limit(api_a: TenantClient) -> None:
    items = [{"external_id": str(n)} for n in range(BULK_MAX_ITEMS + 1)]
    response = bulk(api_a, "accounts", items)
    assert response.status_code == 400
    assert str(BULK_MAX_ITEMS) in response.json()["error"]["fields"]["items"][0]
    assert not Account.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{}, {"items": "nope"}, {"items": [], "dry_run": True}, [{"external_id": "1"}]],
    ids=["no items", "not a list", "unknown key", "bare list"],
)
def test_the_envelope_is_checked(api_a: TenantClient, body: Any) -> None:
    response = api_a.post("/api/v1/accounts/bulk/", body)
    assert response.status_code == 400


def test_an_account_of_another_tenant_is_not_found_by_external_id(
    api_a: TenantClient, tenant_b: Tenant
) -> None:
    with schema_context(tenant_b.schema_name):
        Account.objects.create(name="Beta's", external_id="shared-id")
    response = bulk(api_a, "contacts", [{"external_id": "c1", "account_external_id": "shared-id"}])
    assert "account_external_id" in response.json()["results"][0]["errors"]
    assert not Contact.objects.exists()


def test_tenant_b_does_not_see_tenant_a_bulk_writes(
    api_a: TenantClient, charlie_client: TenantClient, world: World
) -> None:
    bulk(api_a, "accounts", [{"external_id": "a1", "name": "Alpha's"}])
    assert charlie_client.get("/api/v1/accounts/?external_id=a1").json()["results"] == []
    # The same external id in tenant B is B's own record.
    response = bulk(charlie_client, "accounts", [{"external_id": "a1", "name": "Beta's"}])
    assert response.json()["results"][0]["status"] == "created"
    assert Account.objects.get(external_id="a1").name == "Alpha's"


def test_tenant_a_key_cannot_bulk_write_on_tenant_b(
    world: World, make_api_key: Callable[..., str]
) -> None:
    key = make_api_key(world.tenant_a)
    response = bulk(TenantClient(world.tenant_b).use_api_key(key), "accounts", [])
    assert response.status_code == 401
