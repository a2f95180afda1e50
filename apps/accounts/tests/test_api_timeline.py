"""GET /api/v1/accounts/{id}/timeline/: every dated record, newest first, in keyset pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from apps.accounts.models import Account
from apps.accounts.tests.factories import (
    AccountFactory,
    LeadFactory,
    MilestoneFactory,
    OnboardingPlanFactory,
    OpportunityFactory,
    SubscriptionFactory,
    SurveyResponseFactory,
    TicketFactory,
    TouchpointFactory,
    UsageEventFactory,
)
from tests.fixtures import TenantClient

pytestmark = pytest.mark.usefixtures("tenant_a")


def at(day: str, time: str = "00:00") -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}:00+00:00")


def timeline(client: TenantClient, account: Account, query: str = "") -> Any:
    return client.get(f"/api/v1/accounts/{account.id}/timeline/{query}")


@pytest.fixture
def history() -> tuple[Account, list[tuple[str, int]]]:
    """An account with one record of every kind, and the timeline it should have."""
    account = AccountFactory.create()
    plan = OnboardingPlanFactory.create(account=account, started_on=dt.date(2024, 12, 15))
    open_milestone = MilestoneFactory.create(plan=plan, due_on=dt.date(2025, 4, 1))
    done_milestone = MilestoneFactory.create(
        plan=plan, due_on=dt.date(2025, 1, 5), completed_on=dt.date(2025, 1, 10)
    )
    MilestoneFactory.create(plan=plan)  # undated: not on the timeline
    deal = OpportunityFactory.create(account=account, close_date=dt.date(2025, 3, 1))
    OpportunityFactory.create(account=account, close_date=None)  # undated
    # Same instant as the deal's close date: ties sort by kind, then id, descending.
    login = UsageEventFactory.create(account=account, occurred_at=at("2025-03-01"))
    second_login = UsageEventFactory.create(account=account, occurred_at=at("2025-03-01"))
    term = SubscriptionFactory.create(account=account, period_start=dt.date(2025, 1, 1))
    ticket = TicketFactory.create(account=account, opened_at=at("2025-02-15", "09:00"))
    survey = SurveyResponseFactory.create(account=account, responded_at=at("2025-02-20", "12:00"))
    call = TouchpointFactory.create(account=account, occurred_at=at("2025-02-01", "08:00"))
    lead = LeadFactory.create(
        status="converted", converted_account=account, converted_at=at("2024-12-01")
    )
    LeadFactory.create()  # never converted
    TicketFactory.create(opened_at=at("2025-02-16"))  # another account's
    expected = [
        ("milestone", open_milestone.id),
        ("usage_event", second_login.id),
        ("usage_event", login.id),
        ("opportunity", deal.id),
        ("survey_response", survey.id),
        ("ticket", ticket.id),
        ("touchpoint", call.id),
        ("milestone", done_milestone.id),
        ("subscription", term.id),
        ("onboarding_plan", plan.id),
        ("lead", lead.id),
    ]
    return account, expected


def test_every_dated_record_is_on_the_timeline_newest_first(
    api_a: TenantClient, history: tuple[Account, list[tuple[str, int]]]
) -> None:
    account, expected = history
    response = timeline(api_a, account)
    assert response.status_code == 200
    body = response.json()
    assert [(entry["kind"], entry["id"]) for entry in body["results"]] == expected
    assert body["next"] is None
    first = body["results"][0]
    assert (first["at"], first["details"]["due_on"]) == ("2025-04-01T00:00:00Z", "2025-04-01")
    survey = body["results"][4]
    assert survey["title"] == "NPS 9"


def test_pages_walk_the_whole_timeline_without_gaps_or_repeats(
    api_a: TenantClient, history: tuple[Account, list[tuple[str, int]]]
) -> None:
    account, expected = history
    seen: list[tuple[str, int]] = []
    url: str | None = f"/api/v1/accounts/{account.id}/timeline/?page_size=3"
    pages = 0
    while url:
        body = api_a.get(url).json()
        assert len(body["results"]) <= 3
        seen.extend((entry["kind"], entry["id"]) for entry in body["results"])
        url = body["next"]
        pages += 1
    assert seen == expected
    assert pages == 4


def test_the_timeline_can_be_limited_to_some_kinds(
    api_a: TenantClient, history: tuple[Account, list[tuple[str, int]]]
) -> None:
    account, _ = history
    body = timeline(api_a, account, "?kind=ticket,touchpoint").json()
    assert [entry["kind"] for entry in body["results"]] == ["ticket", "touchpoint"]
    body = timeline(api_a, account, "?kind=lead&kind=subscription").json()
    assert [entry["kind"] for entry in body["results"]] == ["subscription", "lead"]


def test_an_empty_account_has_an_empty_timeline(api_a: TenantClient) -> None:
    body = timeline(api_a, AccountFactory.create()).json()
    assert body == {"next": None, "results": []}


@pytest.mark.parametrize(
    ("query", "field"),
    [("?cursor=garbage", "cursor"), ("?kind=invoices", "kind")],
)
def test_bad_parameters_are_400_naming_them(api_a: TenantClient, query: str, field: str) -> None:
    response = timeline(api_a, AccountFactory.create(), query)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_charlie_cannot_read_an_alpha_timeline(
    charlie_client: TenantClient, history: tuple[Account, list[tuple[str, int]]]
) -> None:
    account, _ = history
    assert timeline(charlie_client, account).status_code == 404
