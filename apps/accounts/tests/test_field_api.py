"""The field metrics API: the same figures as the selectors, parameters, errors, isolation, schema.

The figures are worked out by hand in field_book.py and checked step by step in
test_field_selectors.py; here a few of them show the API serves the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django_tenants.utils import schema_context

from apps.accounts.models import Account
from apps.accounts.tests.field_book import (
    AS_OF,
    END,
    START,
    Book,
    build_book,
    store_adoption,
    term,
)
from fullfield.tenancy.models import Tenant
from tests.fixtures import TenantClient, World

URL = "/api/v1/metrics/field/"
PERIOD = {"start": START.isoformat(), "end": END.isoformat(), "as_of": AS_OF.isoformat()}


@pytest.fixture(params=("scanned", "stored midway"))
def book(request: pytest.FixtureRequest, tenant_a: Tenant) -> Book:
    built = build_book()
    store_adoption(request.param)
    return built


def error_fields(response: Any) -> dict[str, Any]:
    return dict(response.json()["error"]["fields"])


@pytest.mark.usefixtures("book")
def test_a_revenue_leader_reads_the_whole_field(api_a: TenantClient) -> None:
    response = api_a.get(URL, PERIOD)

    assert response.status_code == 200
    body = response.json()
    assert body["currency"] == "USD"
    assert body["parameters"]["adoption_threshold"] == 10
    assert body["parameters"]["adoption_days"] == 30
    steps = {step["key"]: step for step in body["funnel"]["steps"]}
    assert steps["won"]["count"] == 2
    assert steps["won"]["amount"] == "36000.00"
    assert steps["won"]["win_rate"] == "0.6667"
    assert steps["won"]["median_days_in_step"] == "22.5"
    assert steps["lead"]["half"] == "front"
    assert steps["churned"]["half"] == "back"
    assert steps["churned"]["mrr"] == "800.00"
    assert steps["lead"]["mrr"] is None
    # Nothing is valued by scoring in this book: no equity carried, and no valuation time.
    assert (steps["won"]["equity"], steps["won"]["equity_as_of"]) == ("0.00", None)
    assert steps["lead"]["equity"] is None
    assert body["funnel"]["groups"] == []
    assert [cohort["month"] for cohort in body["cohorts"]] == ["2026-02-01", "2026-03-01"]
    assert body["cohorts"][0]["net_revenue_retention"] == "1.3333"
    assert [moment["moment"] for moment in body["moments"]] == [
        "relationship",
        "renewal",
        "onboarding",
    ]


def test_every_leaked_row_links_to_the_record_behind_it(api_a: TenantClient, book: Book) -> None:
    leaks = {leak["step"]: leak for leak in api_a.get(URL, PERIOD).json()["leakage"]}

    frost = book.accounts["frost"].id
    [lost_deal] = leaks["won"]["rows"]
    assert lost_deal["url"].endswith(f"/api/v1/opportunities/{book.deals['frost_new'].id}/")
    assert lost_deal["account_url"].endswith(f"/api/v1/accounts/{frost}/360/")
    assert api_a.get(lost_deal["url"]).json()["loss_reason"] == "chose a competitor"
    [churned] = leaks["churned"]["rows"]
    assert churned["url"].endswith(f"/api/v1/accounts/{frost}/")
    assert api_a.get(churned["url"]).json()["name"] == "Frost"
    assert leaks["churned"]["reasons"] == [
        {"reason": "price", "count": 1, "mrr": "800.00", "amount": None}
    ]
    unconverted = leaks["converted"]["rows"]
    assert all(row["account_url"] is None for row in unconverted)
    assert all(api_a.get(row["url"]).status_code == 200 for row in unconverted)


@pytest.mark.usefixtures("book")
def test_the_funnel_breaks_down_by_segment(api_a: TenantClient) -> None:
    groups = api_a.get(URL, {**PERIOD, "group_by": "segment"}).json()["funnel"]["groups"]

    converted = {group["key"]: group["steps"][1]["count"] for group in groups}
    # Leads never converted belong to no segment (null).
    assert converted == {None: 0, "enterprise": 1, "smb": 1}


@pytest.mark.usefixtures("book")
def test_squads_are_integer_keys_and_a_squad_limits_the_figures(api_a: TenantClient) -> None:
    groups = api_a.get(URL, {**PERIOD, "group_by": "squad"}).json()["funnel"]["groups"]
    assert [group["key"] for group in groups] == [None, 7, 9]

    squad_nine = api_a.get(URL, {**PERIOD, "squad": "9"}).json()
    steps = {step["key"]: step for step in squad_nine["funnel"]["steps"]}
    assert steps["churned"]["count"] == 1  # Frost
    assert steps["won"]["count"] == 0
    assert squad_nine["parameters"]["squad"] == 9


@pytest.mark.usefixtures("book")
def test_adoption_parameters_change_the_adopted_step(api_a: TenantClient) -> None:
    def adopted(**extra: str) -> int:
        body = api_a.get(URL, {**PERIOD, **extra}).json()
        return int(body["funnel"]["steps"][6]["count"])

    assert adopted() == 1
    assert adopted(adoption_threshold="21") == 0
    assert adopted(adoption_days="2") == 0


@pytest.mark.usefixtures("book")
def test_a_read_only_key_and_a_member_can_read_the_field(
    world: World, make_api_key: Callable[..., str], bob_client: TenantClient
) -> None:
    reader = TenantClient(world.tenant_a).use_api_key(make_api_key(world.tenant_a, "read"))

    assert reader.get(URL, PERIOD).status_code == 200
    assert bob_client.get(URL, PERIOD).status_code == 200


def test_anonymous_callers_are_refused(client_a: TenantClient) -> None:
    assert client_a.get(URL, PERIOD).status_code in {401, 403}


def test_field_metrics_are_read_only(api_a: TenantClient) -> None:
    assert api_a.post(URL, PERIOD).status_code == 405


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "start"),
        ({"start": "2026-01-01"}, "end"),
        ({"start": "2026-03-01", "end": "2026-03-01"}, "end"),
        ({"start": "2026-03-01", "end": "2026-01-01"}, "end"),
        ({"start": "2020-01-01", "end": "2026-01-01"}, "end"),
        ({"start": "yesterday", "end": "2026-03-01"}, "start"),
        ({"start": "0001-01-01", "end": "2026-03-01"}, "start"),
        ({**PERIOD, "as_of": "2025-12-31"}, "as_of"),
        ({**PERIOD, "group_by": "hierarchy"}, "group_by"),
        ({**PERIOD, "squad": "abc"}, "squad"),
        ({**PERIOD, "squad": "99999999999999999999999"}, "squad"),
        ({**PERIOD, "adoption_threshold": "0"}, "adoption_threshold"),
        ({**PERIOD, "adoption_days": "-3"}, "adoption_days"),
        ({**PERIOD, "adoption_days": "100000"}, "adoption_days"),
        ({**PERIOD, "leak_limit": "1000"}, "leak_limit"),
    ],
)
def test_bad_parameters_are_refused_naming_the_parameter(
    api_a: TenantClient, params: dict[str, str], field: str
) -> None:
    response = api_a.get(URL, params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert field in error_fields(response)


def test_charlie_sees_nothing_of_tenant_a(
    book: Book, world: World, charlie_client: TenantClient, api_a: TenantClient
) -> None:
    body = charlie_client.get(URL, PERIOD).json()

    assert all(step["count"] == 0 for step in body["funnel"]["steps"])
    assert body["cohorts"] == []
    assert body["moments"] == []
    assert all(leak["count"] == 0 and leak["rows"] == [] for leak in body["leakage"])
    # Tenant A's leaked rows are not found on tenant B's host.
    for leak in api_a.get(URL, PERIOD).json()["leakage"]:
        for row in leak["rows"]:
            assert charlie_client.get(row["url"]).status_code == 404
    with schema_context(world.tenant_b.schema_name):
        assert not Account.objects.filter(id=book.accounts["frost"].id).exists()


def test_money_in_another_currency_is_refused_with_409(api_a: TenantClient, book: Book) -> None:
    term(book.accounts["kite"], 90, "2026-03-01", currency="EUR")

    response = api_a.get(URL, PERIOD)

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "mixed_currency"
    assert "EUR" in error["message"] and "USD" in error["message"]
    # A period and as_of that end before the term are not concerned.
    earlier = {"start": "2025-06-01", "end": "2025-09-01", "as_of": "2025-12-31"}
    assert api_a.get(URL, earlier).status_code == 200


def test_the_schema_documents_every_definition(api_a: TenantClient) -> None:
    schema = api_a.get("/api/schema/", {"format": "json"}).json()

    operation = schema["paths"][URL]["get"]
    assert operation["summary"]
    for phrase in (
        "`won` (front half)",
        "`adopted` (back half)",
        "flow ratio",
        "Customer equity carried is the sum of the step's distinct accounts' current CLV",
        "`churned`: Accounts that churned in the period",
    ):
        assert phrase in operation["description"], phrase
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert parameters.keys() >= {
        "start",
        "end",
        "as_of",
        "group_by",
        "segment",
        "squad",
        "adoption_threshold",
        "adoption_days",
        "adoption_event",
        "leak_limit",
    }
    assert "Default 10" in parameters["adoption_threshold"]["description"]
    assert "Default 30" in parameters["adoption_days"]["description"]
    assert operation["responses"].keys() >= {"200", "400", "409"}
    components = schema["components"]["schemas"]
    for name in ("Step", "Cohort", "Leak", "Moment"):
        properties = components[name]["properties"]
        described = [key for key, value in properties.items() if value.get("description")]
        assert len(described) >= len(properties) - 2, name
    assert "won / (won + lost)" in components["Step"]["properties"]["win_rate"]["description"]
    assert "current CLV" in components["Step"]["properties"]["equity"]["description"]
    assert "valued" in components["Step"]["properties"]["equity_as_of"]["description"]


def test_the_response_says_as_of_when_adoption_days_were_stored(
    tenant_a: Tenant, api_a: TenantClient
) -> None:
    build_book()
    assert api_a.get(URL, PERIOD).json()["adoption_as_of"] is None
    from apps.accounts.field.adoption import plan_adoption_rebuild

    build = plan_adoption_rebuild()

    body = api_a.get(URL, PERIOD).json()
    assert body["adoption_as_of"] == build.built_at.isoformat().replace("+00:00", "Z")
    assert api_a.get(URL, {**PERIOD, "adoption_days": "31"}).json()["adoption_as_of"] is None
    schema = api_a.get("/api/schema/", {"format": "json"}).json()
    described = schema["components"]["schemas"]["FieldMetrics"]["properties"]["adoption_as_of"]
    assert "stored adoption day" in described["description"]
