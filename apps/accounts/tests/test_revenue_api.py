"""The revenue metrics API: parameters, errors, permissions, tenant isolation, schema.

The figures themselves are checked against hand-computed books in test_revenue_metrics.py;
here a small book (March 2026) is enough:

    account    segment  squad  opening (02-28)  closing (03-31)
    Steady     smb      7           100              100
    Upgrader   ent      -           200              300   (upgraded on 03-15)
    Child      smb      7             0               50   (new on 03-20; Upgrader's child)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django_tenants.utils import schema_context

from apps.accounts.models import Account, Subscription
from apps.accounts.tests.factories import existing_squad
from fullfield.tenancy.models import Tenant
from tests.fixtures import TenantClient, World

URL = "/api/v1/metrics/revenue/"
SERIES_URL = "/api/v1/metrics/revenue/series/"


def term(owner: Account, mrr: str, start: str, end: str | None = None, **extra: Any) -> None:
    Subscription.objects.create(
        account=owner,
        plan="pro",
        mrr=Decimal(mrr),
        period_start=date.fromisoformat(start),
        period_end=date.fromisoformat(end) if end else None,
        **extra,
    )


@pytest.fixture
def book(tenant_a: Tenant) -> dict[str, Account]:
    existing_squad(7)
    steady = Account.objects.create(name="Steady", segment="smb", squad_id=7)
    upgrader = Account.objects.create(name="Upgrader", segment="ent")
    child = Account.objects.create(name="Child", segment="smb", squad_id=7, parent=upgrader)
    term(steady, "100", "2025-01-01")
    term(upgrader, "200", "2025-01-01", "2026-03-15")
    term(upgrader, "300", "2026-03-15")
    term(child, "50", "2026-03-20")
    return {"steady": steady, "upgrader": upgrader, "child": child}


def error_fields(response: Any) -> dict[str, Any]:
    return dict(response.json()["error"]["fields"])


@pytest.mark.usefixtures("book")
def test_an_integrator_reads_a_months_figures(api_a: TenantClient) -> None:
    response = api_a.get(URL, {"month": "2026-03"})

    assert response.status_code == 200
    body = response.json()
    assert body["currency"] == "USD"
    assert body["group_by"] is None
    assert body["account"] is None
    assert body["period"] == {
        "start": "2026-03-01",
        "end": "2026-04-01",
        "opening_date": "2026-02-28",
        "closing_date": "2026-03-31",
    }
    assert body["groups"] == []
    totals = body["totals"]
    assert totals["opening_mrr"] == "300.00"  # 100 + 200
    assert totals["closing_mrr"] == "450.00"  # 100 + 300 + 50
    assert totals["arr"] == "5400.00"  # 12 x 450
    assert totals["expansion_mrr"] == "100.00"  # 300 - 200
    assert totals["new_mrr"] == "50.00"
    assert totals["net_new_mrr"] == "150.00"  # 450 - 300
    assert totals["gross_revenue_retention"] == "1.0000"  # (300 - 0 - 0) / 300
    assert totals["net_revenue_retention"] == "1.3333"  # (300 + 100) / 300
    assert totals["logo_churn_rate"] == "0.0000"  # 0 / 2
    assert totals["opening_customers"] == 2
    assert totals["closing_customers"] == 3


@pytest.mark.usefixtures("book")
def test_start_and_end_give_the_same_figures_as_the_month(api_a: TenantClient) -> None:
    by_month = api_a.get(URL, {"month": "2026-03"}).json()
    by_dates = api_a.get(URL, {"start": "2026-03-01", "end": "2026-04-01"}).json()

    assert by_dates == by_month


@pytest.mark.usefixtures("book")
def test_a_period_before_any_revenue_has_null_ratios(api_a: TenantClient) -> None:
    totals = api_a.get(URL, {"month": "2020-01"}).json()["totals"]

    assert totals["opening_mrr"] == "0.00"
    assert totals["gross_revenue_retention"] is None
    assert totals["net_revenue_retention"] is None
    assert totals["logo_churn_rate"] is None
    assert totals["mrr_churn_rate"] is None


@pytest.mark.usefixtures("book")
def test_figures_break_down_by_segment(api_a: TenantClient) -> None:
    groups = api_a.get(URL, {"month": "2026-03", "group_by": "segment"}).json()["groups"]

    # ent: Upgrader 200 -> 300; smb: Steady 100 -> 100 and Child 0 -> 50
    assert [(group["key"], group["name"], group["closing_mrr"]) for group in groups] == [
        ("ent", "ent", "300.00"),
        ("smb", "smb", "150.00"),
    ]


@pytest.mark.usefixtures("book")
def test_figures_break_down_by_squad_with_integer_keys(api_a: TenantClient) -> None:
    groups = api_a.get(URL, {"month": "2026-03", "group_by": "squad"}).json()["groups"]

    # no squad: Upgrader 300; squad 7: Steady 100 + Child 50
    assert [(group["key"], group["closing_mrr"]) for group in groups] == [
        (None, "300.00"),
        (7, "150.00"),
    ]


def test_figures_roll_up_an_account_hierarchy(
    api_a: TenantClient, book: dict[str, Account]
) -> None:
    upgrader = book["upgrader"]
    groups = api_a.get(URL, {"month": "2026-03", "group_by": "hierarchy"}).json()["groups"]
    # Upgrader's tree: Upgrader 200 -> 300 and Child 0 -> 50; Steady stands alone.
    assert [(group["key"], group["name"], group["closing_mrr"]) for group in groups] == [
        (upgrader.id, "Upgrader", "350.00"),
        (book["steady"].id, "Steady", "100.00"),
    ]

    one_tree = api_a.get(URL, {"month": "2026-03", "account": str(upgrader.id)}).json()
    assert one_tree["account"] == upgrader.id
    assert one_tree["totals"]["opening_mrr"] == "200.00"
    assert one_tree["totals"]["closing_mrr"] == "350.00"  # 300 + 50


@pytest.mark.usefixtures("book")
def test_a_monthly_series_for_a_dashboard(api_a: TenantClient) -> None:
    response = api_a.get(
        SERIES_URL, {"start": "2026-02-01", "end": "2026-05-01", "interval": "month"}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["interval"] == "month"
    periods = body["periods"]
    assert [period["period"]["start"] for period in periods] == [
        "2026-02-01",
        "2026-03-01",
        "2026-04-01",
    ]
    # February 300 -> 300, March 300 -> 450, April 450 -> 450
    assert [(p["totals"]["opening_mrr"], p["totals"]["closing_mrr"]) for p in periods] == [
        ("300.00", "300.00"),
        ("300.00", "450.00"),
        ("450.00", "450.00"),
    ]


@pytest.mark.usefixtures("book")
def test_a_series_can_be_grouped(api_a: TenantClient) -> None:
    body = api_a.get(
        SERIES_URL,
        {"start": "2026-01-01", "end": "2026-07-01", "interval": "quarter", "group_by": "segment"},
    ).json()

    assert [len(period["groups"]) for period in body["periods"]] == [2, 2]
    first_quarter = {group["key"]: group for group in body["periods"][0]["groups"]}
    # Q1: opening on 2025-12-31, closing on 2026-03-31
    assert first_quarter["smb"]["new_mrr"] == "50.00"  # Child
    assert first_quarter["ent"]["expansion_mrr"] == "100.00"  # Upgrader 200 -> 300


@pytest.mark.usefixtures("book")
def test_a_read_only_api_key_can_read_metrics(
    world: World, make_api_key: Callable[..., str]
) -> None:
    reader = TenantClient(world.tenant_a).use_api_key(make_api_key(world.tenant_a, "read"))

    assert reader.get(URL, {"month": "2026-03"}).status_code == 200
    assert reader.get(SERIES_URL, {"start": "2026-01-01", "end": "2026-04-01"}).status_code == 200


@pytest.mark.usefixtures("book")
def test_a_signed_in_member_can_read_metrics(bob_client: TenantClient) -> None:
    response = bob_client.get(URL, {"month": "2026-03"})

    assert response.status_code == 200
    assert response.json()["totals"]["closing_mrr"] == "450.00"


def test_anonymous_callers_are_refused(client_a: TenantClient) -> None:
    assert client_a.get(URL, {"month": "2026-03"}).status_code == 401
    assert client_a.get(SERIES_URL, {"start": "2026-01-01", "end": "2026-04-01"}).status_code == 401


def test_metrics_are_read_only(api_a: TenantClient) -> None:
    assert api_a.post(URL, {"month": "2026-03"}).status_code == 405


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"month": "2026-13"}, "month"),
        ({"month": "March"}, "month"),
        ({"month": "1850-01"}, "month"),
        ({"month": "2026-03", "start": "2026-03-01"}, "month"),
        ({"start": "2026-03-10", "end": "2026-03-01"}, "end"),
        ({"start": "2026-03-01", "end": "2026-03-01"}, "end"),
        ({"start": "2026-03-01"}, "end"),
        ({}, "start"),
        ({"start": "yesterday", "end": "2026-03-01"}, "start"),
        ({"start": "0001-01-01", "end": "2026-03-01"}, "start"),
        ({"month": "2026-03", "group_by": "region"}, "group_by"),
        ({"month": "2026-03", "account": "abc"}, "account"),
        ({"month": "2026-03", "account": "0"}, "account"),
        ({"month": "2026-03", "account": "99999999999999999999999"}, "account"),
    ],
)
def test_bad_parameters_are_refused_naming_the_parameter(
    api_a: TenantClient, params: dict[str, str], field: str
) -> None:
    response = api_a.get(URL, params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert field in error_fields(response)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"end": "2026-03-01"}, "start"),
        ({"start": "2026-03-01", "end": "2026-01-01"}, "end"),
        ({"start": "2026-01-01", "end": "2026-04-01", "interval": "fortnight"}, "interval"),
        ({"start": "2000-01-01", "end": "2026-01-01", "interval": "month"}, "end"),  # 312 months
        ({"start": "2026-01-01", "end": "2026-04-01", "group_by": "owner"}, "group_by"),
    ],
)
def test_bad_series_parameters_are_refused_naming_the_parameter(
    api_a: TenantClient, params: dict[str, str], field: str
) -> None:
    response = api_a.get(SERIES_URL, params)

    assert response.status_code == 400
    assert field in error_fields(response)


def test_an_unknown_account_is_not_found(api_a: TenantClient) -> None:
    response = api_a.get(URL, {"month": "2026-03", "account": "424242"})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "account" in error_fields(response)


def test_another_tenants_account_is_not_found_and_its_revenue_is_not_counted(
    book: dict[str, Account], world: World, charlie_client: TenantClient
) -> None:
    with schema_context(world.tenant_b.schema_name):
        assert not Account.objects.filter(id=book["upgrader"].id).exists()

    account = str(book["upgrader"].id)
    assert charlie_client.get(URL, {"month": "2026-03", "account": account}).status_code == 404
    series = {"start": "2026-01-01", "end": "2026-04-01", "account": account}
    assert charlie_client.get(SERIES_URL, series).status_code == 404
    # Tenant B has no subscriptions of its own: none of tenant A's 450 shows up there.
    totals = charlie_client.get(URL, {"month": "2026-03"}).json()["totals"]
    assert totals["closing_mrr"] == "0.00"


def test_a_term_in_another_currency_refuses_the_metrics(
    api_a: TenantClient, book: dict[str, Account]
) -> None:
    term(book["steady"], "80", "2026-03-10", currency="EUR")

    response = api_a.get(URL, {"month": "2026-03"})

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "mixed_currency"
    assert "1 subscription term" in error["message"]
    assert "EUR" in error["message"]
    assert "USD" in error["message"]
    assert error["fields"] == {"currency": ["1 in EUR"]}
    # The same term refuses a series that covers it, and not one that ends before it.
    assert api_a.get(SERIES_URL, {"start": "2026-01-01", "end": "2026-04-01"}).status_code == 409
    assert api_a.get(SERIES_URL, {"start": "2026-01-01", "end": "2026-03-01"}).status_code == 200


def test_the_schema_documents_every_metric_definition(api_a: TenantClient) -> None:
    schema = api_a.get("/api/schema/", {"format": "json"}).json()

    figures = schema["components"]["schemas"]["RevenueFigures"]["properties"]
    assert (
        "(opening - contraction - churned) / opening"
        in figures["gross_revenue_retention"]["description"]
    )
    assert "Reactivated MRR is excluded" in figures["net_revenue_retention"]["description"]
    assert "churned_customers / opening_customers" in figures["logo_churn_rate"]["description"]
    assert all(field.get("description") for field in figures.values())
    operation = schema["paths"][URL]["get"]
    assert "end - 1 day" in operation["description"]
    assert {parameter["name"] for parameter in operation["parameters"]} >= {
        "month",
        "start",
        "end",
        "group_by",
        "account",
    }
    assert schema["paths"][SERIES_URL]["get"]["responses"].keys() >= {"200", "400", "404", "409"}
