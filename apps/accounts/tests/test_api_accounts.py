from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django_tenants.utils import schema_context

from apps.accounts.events import AccountsTouched, LifecycleStageChanged
from apps.accounts.models import Account
from apps.accounts.services.bulk import records_upsert_many
from apps.accounts.tests.factories import (
    AccountFactory,
    OpportunityFactory,
    SubscriptionFactory,
    record_published_events,
)
from fullfield.tenancy.models import Tenant
from tests.fixtures import TenantClient, World

pytestmark = pytest.mark.usefixtures("tenant_a")

ACCOUNTS = "/api/v1/accounts/"


def field_errors(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 400, response.content
    fields: dict[str, list[str]] = response.json()["error"]["fields"]
    return fields


def walk(client: TenantClient, url: str) -> list[dict[str, Any]]:
    """Every result of a list, following `next` links."""
    results: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        response = client.get(next_url)
        assert response.status_code == 200, response.content
        results.extend(response.json()["results"])
        next_url = response.json()["next"]
    return results


# --- create, read, update, delete -------------------------------------------------------


def test_alice_creates_an_account_and_reads_it_back(alice_client: TenantClient) -> None:
    response = alice_client.post(
        ACCOUNTS,
        {"name": "Acme", "domain": "acme.example", "segment": "enterprise", "external_id": "A1"},
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["currency"] == "USD"
    assert created["source_system"] == "api"
    assert created["rescore_requested_at"] is not None, "a new account is due for a score"
    fetched = alice_client.get(f"{ACCOUNTS}{created['id']}/").json()
    assert fetched["name"] == "Acme"
    assert fetched["segment"] == "enterprise"


def test_an_integrator_updates_and_deletes_an_account(api_a: TenantClient) -> None:
    account = AccountFactory.create(name="Old", region="emea")
    response = api_a.patch(f"{ACCOUNTS}{account.id}/", {"name": "New"})
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["region"]) == ("New", "emea")
    replaced = api_a.put(f"{ACCOUNTS}{account.id}/", {"name": "Replaced", "segment": "smb"})
    assert replaced.status_code == 200
    assert api_a.delete(f"{ACCOUNTS}{account.id}/").status_code == 204
    assert not Account.objects.filter(pk=account.id).exists()


def test_an_account_with_subscription_history_cannot_be_deleted(api_a: TenantClient) -> None:
    subscription = SubscriptionFactory.create()
    response = api_a.delete(f"{ACCOUNTS}{subscription.account_id}/")
    assert response.status_code == 409
    assert "churned" in response.json()["error"]["message"]
    assert Account.objects.filter(pk=subscription.account_id).exists()


def test_a_read_only_api_key_can_read_but_not_write(
    world: World, make_api_key: Callable[..., str]
) -> None:
    reader = TenantClient(world.tenant_a).use_api_key(make_api_key(world.tenant_a, "read"))
    assert reader.get(ACCOUNTS).status_code == 200
    assert reader.post(ACCOUNTS, {"name": "Nope"}).status_code == 403
    assert reader.post(f"{ACCOUNTS}bulk/", {"items": []}).status_code == 403
    assert not Account.objects.exists()


def test_anonymous_requests_are_refused(client_a: TenantClient) -> None:
    assert client_a.get(ACCOUNTS).status_code == 401


# --- mass assignment and validation --------------------------------------------------------


@pytest.mark.parametrize(
    "field", ["id", "rescore_requested_at", "squad_id", "created_at", "updated_at"]
)
def test_system_fields_cannot_be_written(api_a: TenantClient, field: str) -> None:
    account = AccountFactory.create()
    assert field_errors(api_a.post(ACCOUNTS, {"name": "X", field: None})) == {
        field: ["This field is read-only."]
    }
    assert field_errors(api_a.patch(f"{ACCOUNTS}{account.id}/", {field: None})) == {
        field: ["This field is read-only."]
    }


def test_unknown_fields_are_refused_not_ignored(api_a: TenantClient) -> None:
    errors = field_errors(api_a.post(ACCOUNTS, {"name": "X", "is_admin": True, "health": 99}))
    assert errors == {"is_admin": ["Unknown field."], "health": ["Unknown field."]}
    assert not Account.objects.exists()


def test_another_currency_is_refused_never_converted(api_a: TenantClient) -> None:
    errors = field_errors(api_a.post(ACCOUNTS, {"name": "X", "currency": "EUR"}))
    assert "USD" in errors["currency"][0]
    assert "not converted" in errors["currency"][0]


def test_a_parent_from_another_tenant_is_not_found(api_a: TenantClient, tenant_b: Tenant) -> None:
    with schema_context(tenant_b.schema_name):
        foreign = Account.objects.create(name="Beta's own")
    errors = field_errors(api_a.post(ACCOUNTS, {"name": "X", "parent": foreign.id}))
    assert errors == {"parent": [f"No account with id {foreign.id}."]}


def test_a_parent_that_makes_a_loop_is_refused(api_a: TenantClient) -> None:
    top = AccountFactory.create()
    child = AccountFactory.create(parent=top)
    grandchild = AccountFactory.create(parent=child)
    errors = field_errors(api_a.patch(f"{ACCOUNTS}{top.id}/", {"parent": grandchild.id}))
    assert "ancestor" in errors["parent"][0]
    errors = field_errors(api_a.patch(f"{ACCOUNTS}{top.id}/", {"parent": top.id}))
    assert "ancestor" in errors["parent"][0]
    top.refresh_from_db()
    assert top.parent_id is None


def test_an_external_id_already_used_is_a_field_error(api_a: TenantClient) -> None:
    AccountFactory.create(source_system="crm", external_id="A-1")
    errors = field_errors(
        api_a.post(ACCOUNTS, {"name": "X", "source_system": "crm", "external_id": "A-1"})
    )
    assert "external_id" in errors
    other_system = api_a.post(ACCOUNTS, {"name": "X", "source_system": "erp", "external_id": "A-1"})
    assert other_system.status_code == 201


def test_bad_choices_and_types_name_their_fields(api_a: TenantClient) -> None:
    errors = field_errors(
        api_a.post(ACCOUNTS, {"name": "", "lifecycle_stage": "asleep", "attributes": "x"})
    )
    assert set(errors) == {"name", "lifecycle_stage", "attributes"}


# --- events -------------------------------------------------------------------------------


def test_a_lifecycle_stage_change_is_published(
    api_a: TenantClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = AccountFactory.create(lifecycle_stage="onboarding")
    published = record_published_events(monkeypatch)
    api_a.patch(f"{ACCOUNTS}{account.id}/", {"name": "Renamed"})
    assert published == []
    api_a.patch(f"{ACCOUNTS}{account.id}/", {"lifecycle_stage": "adopting"})
    assert published == [
        LifecycleStageChanged(account_id=account.id, previous_stage="onboarding", stage="adopting")
    ]


def test_creating_an_account_publishes_that_it_needs_a_score(
    api_a: TenantClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    published = record_published_events(monkeypatch)
    account_id = api_a.post(ACCOUNTS, {"name": "New"}).json()["id"]
    assert published == [AccountsTouched(account_ids=[account_id])]


# --- lists: filters, search, ordering, cursor pages ----------------------------------------


def test_accounts_are_filtered_by_their_attributes(api_a: TenantClient) -> None:
    parent = AccountFactory.create(segment="enterprise", lifecycle_stage="adopting")
    child = AccountFactory.create(segment="smb", lifecycle_stage="renewing", parent=parent)
    churned = AccountFactory.create(segment="smb", lifecycle_stage="churned", external_id="X9")
    Account.objects.filter(pk=churned.pk).update(rescore_requested_at=dt.datetime.now(dt.UTC))

    def ids(query: str) -> set[int]:
        response = api_a.get(f"{ACCOUNTS}?{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids("segment=smb") == {child.id, churned.id}
    assert ids("lifecycle_stage=adopting&lifecycle_stage=churned") == {parent.id, churned.id}
    assert ids(f"parent={parent.id}") == {child.id}
    assert ids("is_root=true") == {parent.id, churned.id}
    assert ids("rescore_pending=true") == {churned.id}
    assert ids("external_id=X9") == {churned.id}
    assert ids("updated_after=2999-01-01T00:00:00Z") == set()


def test_a_bad_filter_value_is_a_400_naming_it(api_a: TenantClient) -> None:
    assert "lifecycle_stage" in field_errors(api_a.get(f"{ACCOUNTS}?lifecycle_stage=asleep"))
    assert "updated_after" in field_errors(api_a.get(f"{ACCOUNTS}?updated_after=yesterday"))


def test_accounts_are_searched_by_name_domain_and_external_id(api_a: TenantClient) -> None:
    acme = AccountFactory.create(name="Acme Rockets", domain="acme.example")
    AccountFactory.create(name="Globex", domain="globex.example", external_id="crm-77")
    results = api_a.get(f"{ACCOUNTS}?search=rocket").json()["results"]
    assert [row["id"] for row in results] == [acme.id]
    assert len(api_a.get(f"{ACCOUNTS}?search=crm-77").json()["results"]) == 1


def test_pages_follow_the_ordering_and_lose_nothing_on_ties(api_a: TenantClient) -> None:
    names = ["Delta", "alpha", "Charlie", "Bravo", "Bravo", "Echo", "Bravo"]
    for name in names:
        AccountFactory.create(name=name)
    by_name = walk(api_a, f"{ACCOUNTS}?ordering=name&page_size=2")
    assert len({row["id"] for row in by_name}) == len(names)
    # The database's collation decides the order of names; ties are broken by id.
    assert [row["id"] for row in by_name] == list(
        Account.objects.order_by("name", "id").values_list("id", flat=True)
    )
    descending = walk(api_a, f"{ACCOUNTS}?ordering=-name&page_size=3")
    assert [row["id"] for row in descending] == [row["id"] for row in reversed(by_name)]


def test_a_thousand_rows_with_the_same_timestamp_page_correctly(api_a: TenantClient) -> None:
    # One bulk statement gives every row the same created_at: a plain offset cursor breaks.
    records_upsert_many(
        entity="accounts",
        items=[{"external_id": str(n), "name": f"Account {n}"} for n in range(1200)],
    )
    rows = walk(api_a, f"{ACCOUNTS}?ordering=created_at&page_size=500")
    assert len(rows) == 1200
    assert len({row["id"] for row in rows}) == 1200


def test_the_previous_link_returns_the_previous_page(api_a: TenantClient) -> None:
    for n in range(5):
        AccountFactory.create(name=f"Account {n}")
    first = api_a.get(f"{ACCOUNTS}?ordering=name&page_size=2").json()
    assert first["previous"] is None
    second = api_a.get(first["next"]).json()
    back = api_a.get(second["previous"]).json()
    assert [row["id"] for row in back["results"]] == [row["id"] for row in first["results"]]
    assert back["next"] is not None


def test_empty_values_sort_last_in_both_directions(api_a: TenantClient) -> None:
    dated = [
        OpportunityFactory.create(close_date=dt.date(2025, month, 1)).id for month in (3, 1, 2)
    ]
    undated = [OpportunityFactory.create(close_date=None).id for _ in range(2)]
    ascending = walk(api_a, "/api/v1/opportunities/?ordering=close_date&page_size=2")
    assert [row["id"] for row in ascending] == [dated[1], dated[2], dated[0], *undated]
    descending = walk(api_a, "/api/v1/opportunities/?ordering=-close_date&page_size=2")
    assert [row["id"] for row in descending] == [
        dated[0],
        dated[2],
        dated[1],
        *reversed(undated),
    ]


def test_unknown_orderings_and_bad_cursors_are_400(api_a: TenantClient) -> None:
    AccountFactory.create_batch(3)
    assert "ordering" in field_errors(api_a.get(f"{ACCOUNTS}?ordering=password"))
    assert "cursor" in field_errors(api_a.get(f"{ACCOUNTS}?cursor=not-a-cursor"))
    next_link = api_a.get(f"{ACCOUNTS}?ordering=name&page_size=1").json()["next"]
    cursor = next_link.split("cursor=")[1].split("&")[0]
    assert "cursor" in field_errors(api_a.get(f"{ACCOUNTS}?ordering=-created_at&cursor={cursor}"))


# --- tenant isolation ----------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "timeline/", "360/"])
def test_charlie_gets_404_for_alpha_accounts(charlie_client: TenantClient, suffix: str) -> None:
    account = AccountFactory.create()
    assert charlie_client.get(f"{ACCOUNTS}{account.id}/{suffix}").status_code == 404


def test_charlie_cannot_change_or_delete_alpha_accounts(charlie_client: TenantClient) -> None:
    account = AccountFactory.create(name="Alpha's")
    assert charlie_client.patch(f"{ACCOUNTS}{account.id}/", {"name": "Mine"}).status_code == 404
    assert charlie_client.delete(f"{ACCOUNTS}{account.id}/").status_code == 404
    assert charlie_client.get(ACCOUNTS).json()["results"] == []
    account.refresh_from_db()
    assert account.name == "Alpha's"


def test_an_api_key_of_tenant_a_is_refused_on_tenant_b(
    world: World, make_api_key: Callable[..., str]
) -> None:
    key = make_api_key(world.tenant_a)
    on_b = TenantClient(world.tenant_b).use_api_key(key)
    assert on_b.get(ACCOUNTS).status_code == 401
    assert on_b.post(f"{ACCOUNTS}bulk/", {"items": []}).status_code == 401


@pytest.mark.parametrize("account_id", ["abc", "99999999999999999999999", "-1"])
def test_ids_that_are_not_ids_are_404(api_a: TenantClient, account_id: str) -> None:
    assert api_a.get(f"{ACCOUNTS}{account_id}/").status_code == 404


def test_text_the_database_cannot_store_is_refused(api_a: TenantClient) -> None:
    errors = field_errors(api_a.post(ACCOUNTS, {"name": "a\x00b", "attributes": {"k": "\x00"}}))
    assert set(errors) == {"name", "attributes"}
