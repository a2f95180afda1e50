"""A tenant's own settings: its currency is fixed at creation; admins change the rest."""

from __future__ import annotations

from typing import Any

import pytest

from fullfield.errors import DomainError
from fullfield.tenancy.context import use_public_schema
from fullfield.tenancy.models import Tenant
from fullfield.tenancy.services import tenant_create
from tests.fixtures import TenantClient, World


def test_everyone_signed_in_reads_the_tenant_settings(
    bob_client: TenantClient, world: World, make_api_key: Any
) -> None:
    body = bob_client.get("/api/v1/tenant/").json()
    assert body["slug"] == "alpha"
    assert body["currency"] == "USD"
    assert body["ingest_creates_unknown_accounts"] is True
    reader = TenantClient(world.tenant_a).use_api_key(make_api_key(world.tenant_a, scope="read"))
    assert reader.get("/api/v1/tenant/").status_code == 200


def test_an_admin_changes_the_ingest_rule_and_members_and_keys_cannot(
    alice_client: TenantClient, bob_client: TenantClient, api_a: TenantClient, world: World
) -> None:
    change = {"ingest_creates_unknown_accounts": False}
    assert bob_client.patch("/api/v1/tenant/", change).status_code == 403
    assert api_a.patch("/api/v1/tenant/", change).status_code == 403
    response = alice_client.patch("/api/v1/tenant/", change)
    assert response.status_code == 200
    assert response.json()["ingest_creates_unknown_accounts"] is False
    assert Tenant.objects.get(slug="alpha").ingest_creates_unknown_accounts is False


def test_the_currency_and_slug_cannot_be_changed_and_unknown_fields_are_named(
    alice_client: TenantClient,
) -> None:
    response = alice_client.patch(
        "/api/v1/tenant/", {"currency": "EUR", "slug": "omega", "colour": "red"}
    )
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields == {
        "currency": ["This field is read-only."],
        "slug": ["This field is read-only."],
        "colour": ["Unknown field."],
    }
    assert alice_client.patch("/api/v1/tenant/", {"name": "  "}).status_code == 400


def test_a_tenant_is_created_in_its_own_currency(world: World, db: None) -> None:
    use_public_schema()
    tenant = tenant_create(
        slug="euro-co", name="Euro Co", admin_email="admin@euro.test", currency="eur"
    ).tenant
    assert tenant.currency == "EUR"
    with pytest.raises(DomainError) as refused:
        tenant_create(slug="bad-co", name="Bad", admin_email="a@b.test", currency="EURO")
    assert "currency" in refused.value.fields
