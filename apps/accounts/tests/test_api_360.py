"""GET /api/v1/accounts/{id}/360/: the account with its summaries, against hand-computed figures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts import selectors
from apps.accounts.models import Account
from apps.accounts.tests.factories import (
    AccountFactory,
    MilestoneFactory,
    OnboardingPlanFactory,
    OpportunityFactory,
    SubscriptionFactory,
    SurveyResponseFactory,
    TicketFactory,
    UsageEventFactory,
)
from tests.fixtures import TenantClient

pytestmark = pytest.mark.usefixtures("tenant_a")


def days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


@pytest.fixture
def account() -> Account:
    """An account with a known history; the expected figures are worked out in the tests."""
    now = timezone.now()
    today = now.date()
    account = AccountFactory.create(name="Umbrella")
    AccountFactory.create(name="Umbrella Labs", parent=account)
    AccountFactory.create(name="Umbrella East", parent=account)

    # Pipeline: 2 open (100 + 250.50); won deals, the later one is the last; one lost.
    OpportunityFactory.create(account=account, status="open", amount=Decimal("100.00"))
    OpportunityFactory.create(account=account, status="open", amount=Decimal("250.50"))
    OpportunityFactory.create(
        account=account, status="won", name="First deal", close_date=today - days(200)
    )
    OpportunityFactory.create(
        account=account,
        status="won",
        name="Expansion",
        kind="expansion",
        amount=Decimal("5000.00"),
        close_date=today - days(20),
    )
    OpportunityFactory.create(
        account=account, status="lost", loss_reason="price", close_date=today - days(5)
    )

    # Onboarding: the latest plan has 3 milestones: 1 done, 1 overdue, 1 due later.
    old_plan = OnboardingPlanFactory.create(account=account, started_on=today - days(400))
    MilestoneFactory.create(plan=old_plan, due_on=today - days(390))  # old plan: not counted
    plan = OnboardingPlanFactory.create(
        account=account, name="Rollout", started_on=today - days(30)
    )
    MilestoneFactory.create(plan=plan, due_on=today - days(20), completed_on=today - days(21))
    MilestoneFactory.create(plan=plan, due_on=today - days(3))
    MilestoneFactory.create(plan=plan, due_on=today + days(10))

    # Usage: last 30 days 3 events (1 + 2 + 3); days 31-60: 2 events (5 + 5); older: ignored.
    for ago, value in [(1, 1.0), (10, 2.0), (29, 3.0), (31, 5.0), (59, 5.0), (70, 50.0)]:
        UsageEventFactory.create(account=account, occurred_at=now - days(ago), value=value)

    # Tickets: open urgent, pending high, open high count; solved and closed do not.
    TicketFactory.create(account=account, priority="urgent", status="open")
    TicketFactory.create(account=account, priority="high", status="pending")
    TicketFactory.create(account=account, priority="high", status="open")
    TicketFactory.create(account=account, priority="low", status="solved")
    TicketFactory.create(account=account, priority="urgent", status="closed")

    # Surveys: the latest of each kind.
    SurveyResponseFactory.create(account=account, kind="nps", score=6, responded_at=now - days(90))
    SurveyResponseFactory.create(
        account=account, kind="nps", score=9, moment="renewal", responded_at=now - days(2)
    )
    SurveyResponseFactory.create(account=account, kind="csat", score=4, responded_at=now - days(9))

    # Subscription terms in force today: 100 (ends in 20 days) + 50 (open-ended) = 150.
    SubscriptionFactory.create(
        account=account,
        mrr=Decimal("100.00"),
        period_start=today - days(345),
        period_end=today + days(20),
    )
    SubscriptionFactory.create(
        account=account, mrr=Decimal("50.00"), status="past_due", period_start=today - days(10)
    )
    # Not in force today: canceled, trialing, not started, already ended.
    SubscriptionFactory.create(account=account, mrr=Decimal("70.00"), status="canceled")
    SubscriptionFactory.create(account=account, mrr=Decimal("30.00"), status="trialing")
    SubscriptionFactory.create(account=account, mrr=Decimal("999.00"), period_start=today + days(1))
    SubscriptionFactory.create(
        account=account,
        mrr=Decimal("80.00"),
        period_start=today - days(100),
        period_end=today,
    )
    # Another account's records never count.
    other = AccountFactory.create()
    OpportunityFactory.create(account=other, status="open")
    SubscriptionFactory.create(account=other, mrr=Decimal("12345.00"))
    return account


def test_the_360_view_joins_pipeline_onboarding_usage_support_surveys_and_revenue(
    api_a: TenantClient, account: Account
) -> None:
    today = timezone.now().date()
    response = api_a.get(f"/api/v1/accounts/{account.id}/360/")
    assert response.status_code == 200, response.content
    view = response.json()
    assert view["account"]["name"] == "Umbrella"
    assert [child["name"] for child in view["children"]] == ["Umbrella East", "Umbrella Labs"]
    assert view["children_count"] == 2
    assert view["pipeline"] == {"open_count": 2, "open_amount": "350.50"}
    assert view["last_won_deal"]["name"] == "Expansion"
    assert view["last_won_deal"]["amount"] == "5000.00"
    onboarding = view["onboarding"]
    assert onboarding["name"] == "Rollout"
    assert (
        onboarding["milestones_total"],
        onboarding["milestones_done"],
        onboarding["milestones_overdue"],
    ) == (3, 1, 1)
    usage = view["usage"]
    assert (usage["events_last_30_days"], usage["value_last_30_days"]) == (3, 6.0)
    assert (usage["events_previous_30_days"], usage["value_previous_30_days"]) == (2, 10.0)
    assert view["open_tickets"] == {
        "total": 3,
        "by_priority": {"urgent": 1, "high": 2, "normal": 0, "low": 0},
    }
    assert view["last_surveys"]["nps"]["score"] == 9
    assert view["last_surveys"]["nps"]["moment"] == "renewal"
    assert view["last_surveys"]["csat"]["score"] == 4
    assert view["last_surveys"]["ces"] is None
    assert view["revenue"] == {
        "current_mrr": "150.00",
        "currency": "USD",
        "next_renewal_on": (today + days(20)).isoformat(),
        "terms_in_force": 2,
    }


def test_an_account_without_history_has_empty_summaries(api_a: TenantClient) -> None:
    view = api_a.get(f"/api/v1/accounts/{AccountFactory.create().id}/360/").json()
    assert view["pipeline"] == {"open_count": 0, "open_amount": "0.00"}
    assert view["last_won_deal"] is None
    assert view["onboarding"] is None
    assert view["usage"]["events_last_30_days"] == 0
    assert view["open_tickets"]["total"] == 0
    assert view["revenue"]["current_mrr"] == "0.00"
    assert view["revenue"]["next_renewal_on"] is None


def test_the_360_view_takes_the_same_few_queries_however_much_history(
    account: Account,
) -> None:
    small = AccountFactory.create()
    with CaptureQueriesContext(connection) as for_small:
        selectors.account_360(account_id=small.id)
    with CaptureQueriesContext(connection) as for_large:
        selectors.account_360(account_id=account.id)
    assert len(for_small) == len(for_large) <= 10


def test_charlie_gets_404_for_an_alpha_360(charlie_client: TenantClient, account: Account) -> None:
    assert charlie_client.get(f"/api/v1/accounts/{account.id}/360/").status_code == 404
