"""Cycles (the squad's learning record) and scorecards (its own figures, linked to rows)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.accounts.models import Account
from apps.accounts.tests.factories import AccountFactory, SubscriptionFactory
from apps.scoring.models import AccountValue, AccountValueSnapshot
from apps.scoring.services import health_recompute
from apps.scoring.tests.helpers import active_days_component, usage, use_components
from apps.squads.models import Squad, WorkItem
from apps.squads.scorecards import squad_scorecard
from apps.squads.tests.factories import MemberFactory, WorkItemFactory, make_squad
from tests.fixtures import TenantClient

pytestmark = pytest.mark.usefixtures("tenant_a")

TODAY = timezone.now().date()


@pytest.fixture
def squad() -> Squad:
    return make_squad("Onboarding")


def worked_item(squad: Squad, *, effort: int, on_time: bool = True) -> WorkItem:
    account = AccountFactory.create(squad_id=squad.pk)
    SubscriptionFactory.create(account=account, mrr=Decimal("500"))
    item = WorkItemFactory.create(queue=squad.queue, account=account)
    closed = timezone.now()
    WorkItem.objects.filter(pk=item.pk).update(
        status="done",
        assignee=MemberFactory.create(),
        closed_at=closed,
        effort_minutes=effort,
        sla_due_at=closed + dt.timedelta(hours=1 if on_time else -1),
    )
    return item


def test_a_squads_scorecard_counts_its_own_accounts_and_work(squad: Squad) -> None:
    worked_item(squad, effort=60)
    worked_item(squad, effort=30, on_time=False)
    WorkItemFactory.create(queue=squad.queue)
    WorkItemFactory.create(queue=make_squad("Other").queue)
    card = squad_scorecard(squad=squad, start=TODAY, end=TODAY + dt.timedelta(days=1))
    assert card.accounts_covered == 2
    assert (card.items_opened, card.items_closed) == (3, 2)
    assert card.sla_hit_rate == 0.5
    assert card.effort_minutes == 90
    assert card.health_distribution == {"good": 0, "average": 0, "poor": 0, "unscored": 2}
    assert (card.customer_equity, card.roi) == (Decimal(0), None), "not valued by scoring yet"


def scored_at(moment: dt.datetime, *accounts: Account) -> None:
    health_recompute(account_ids=[account.pk for account in accounts], as_of=moment)


def valued(account: Account, *, clv: int, kept: int, cost: int) -> None:
    """Scoring's value figures of an account (as its value pass writes them)."""
    AccountValue.objects.create(
        account=account,
        arr=kept,
        revenue_12m=kept,
        expansion_12m=0,
        cost_to_serve_12m=cost,
        clv=clv,
        as_of=timezone.now(),
    )


def test_a_scorecard_reads_equity_roi_health_and_saves_from_scoring(
    alice_client: TenantClient, squad: Squad
) -> None:
    use_components(active_days_component())
    yesterday = timezone.now() - dt.timedelta(days=1)
    recovering = AccountFactory.create(name="Recovering", squad_id=squad.pk)
    thriving = AccountFactory.create(name="Thriving", squad_id=squad.pk)
    outside = AccountFactory.create(name="Outside")
    renewal = {"mrr": Decimal("500"), "period_end": TODAY + dt.timedelta(days=30)}
    SubscriptionFactory.create(account=recovering, **renewal)
    SubscriptionFactory.create(account=thriving, **renewal)
    # Yesterday Recovering had 2 active days of 10 (score 20, poor); Thriving no score yet.
    for days_ago in (2, 3):
        usage(recovering, days_ago)
    scored_at(yesterday, recovering)
    # An item opened on Recovering while it was poor is worked; usage comes back (5 days).
    saved = WorkItemFactory.create(queue=squad.queue, account=recovering)
    unscored_then = WorkItemFactory.create(queue=squad.queue, account=thriving)
    WorkItem.objects.filter(pk__in=[saved.pk, unscored_then.pk]).update(
        created_at=yesterday + dt.timedelta(hours=1)
    )
    for days_ago in (4, 5, 6):
        usage(recovering, days_ago)
    for days_ago in range(8):
        usage(thriving, days_ago)
        usage(outside, days_ago)
    scored_at(timezone.now(), recovering, thriving, outside)
    WorkItem.objects.filter(pk__in=[saved.pk, unscored_then.pk]).update(
        status="done", closed_at=timezone.now(), effort_minutes=30
    )
    valued(recovering, clv=24_000, kept=6_000, cost=60)
    valued(thriving, clv=12_000, kept=6_000, cost=30)
    valued(outside, clv=99_000, kept=1, cost=1)
    AccountValueSnapshot.objects.create(
        account=recovering, day=TODAY - dt.timedelta(days=1), clv=20_000, arr=6_000
    )

    card = squad_scorecard(squad=squad, start=TODAY, end=TODAY + dt.timedelta(days=1))

    assert card.customer_equity == Decimal(36_000), "the sum of scoring's CLV"
    assert card.customer_equity_change == Decimal(16_000), "against yesterday's snapshot"
    # (12,000 kept x 0.8 margin - 90 cost to serve) / 90.
    assert card.roi == round((12_000 * 0.8 - 90) / 90, 3)
    assert card.health_distribution == {"good": 1, "average": 1, "poor": 0, "unscored": 0}
    assert card.health_distribution_at_start == {
        "good": 0,
        "average": 0,
        "poor": 1,
        "unscored": 1,
    }
    assert (card.average_health, card.average_health_at_start) == (65.0, 20.0)
    assert card.average_health_change == 45.0
    assert (card.renewals_at_risk, card.renewals_at_risk_arr) == (1, Decimal(6_000))
    assert card.saves == 1

    body = alice_client.get(f"/api/v1/squads/{squad.pk}/scorecard/").json()
    at_risk = alice_client.get(body["links"]["renewals_at_risk"]).json()["results"]
    assert [(row["name"], row["health_band"]) for row in at_risk] == [("Recovering", "average")]
    covered = alice_client.get(body["links"]["customer_equity"]).json()["results"]
    assert sorted(Decimal(row["clv"]) for row in covered) == [12_000, 24_000]
    saves = alice_client.get(body["links"]["saves"]).json()["results"]
    assert [row["id"] for row in saves] == [saved.pk]


def test_a_covered_accounts_band_filter_names_the_bands_it_knows(
    alice_client: TenantClient, squad: Squad
) -> None:
    response = alice_client.get(f"/api/v1/squads/{squad.pk}/accounts/?band=fine")
    assert response.status_code == 400
    assert "band" in response.json()["error"]["fields"]


def test_every_scorecard_figure_links_to_its_rows(alice_client: TenantClient, squad: Squad) -> None:
    item = worked_item(squad, effort=10)
    card = alice_client.get(f"/api/v1/squads/{squad.pk}/scorecard/").json()
    closed = alice_client.get(card["links"]["items_closed"]).json()["results"]
    assert [row["id"] for row in closed] == [item.pk]
    covered = alice_client.get(card["links"]["accounts_covered"]).json()["results"]
    assert [row["id"] for row in covered] == [item.account_id]


def test_the_roll_up_sums_every_squad(alice_client: TenantClient, squad: Squad) -> None:
    worked_item(squad, effort=10)
    other = make_squad("Expansion")
    worked_item(other, effort=20)
    body = alice_client.get("/api/v1/scorecards/").json()
    assert [card["squad_name"] for card in body["squads"]] == ["Expansion", "Onboarding"]
    assert (body["total"]["items_closed"], body["total"]["effort_minutes"]) == (2, 30)
    assert body["total"]["accounts_covered"] == 2


def test_a_scorecard_period_must_end_after_it_starts(
    alice_client: TenantClient, squad: Squad
) -> None:
    response = alice_client.get(
        f"/api/v1/squads/{squad.pk}/scorecard/?start=2026-03-10&end=2026-03-01"
    )
    assert response.status_code == 400


def test_a_cycle_is_planned_run_and_closed_with_its_measured_outcome_and_lessons(
    alice_client: TenantClient, squad: Squad
) -> None:
    response = alice_client.post(
        "/api/v1/cycles/",
        {
            "squad": squad.pk,
            "name": "Cycle 1",
            "goal": "Close onboarding gaps",
            "hypothesis": "Kickoff calls within 3 days keep milestones on time",
            "starts_on": str(TODAY - dt.timedelta(days=13)),
            "ends_on": str(TODAY),
            "status": "active",
        },
    )
    assert response.status_code == 201, response.content
    cycle = response.json()
    worked_item(squad, effort=25)
    closed = alice_client.post(
        f"/api/v1/cycles/{cycle['id']}/close/", {"lessons": "Calls work; emails do not"}
    ).json()
    assert closed["status"] == "closed"
    assert closed["lessons"] == "Calls work; emails do not"
    assert (closed["outcome"]["items_closed"], closed["outcome"]["effort_minutes"]) == (1, 25)
    again = alice_client.patch(f"/api/v1/cycles/{cycle['id']}/", {"goal": "Rewrite history"})
    assert again.status_code == 409


def test_a_squad_has_one_active_cycle_at_a_time(alice_client: TenantClient, squad: Squad) -> None:
    body = {
        "squad": squad.pk,
        "name": "A",
        "goal": "g",
        "starts_on": "2026-03-01",
        "ends_on": "2026-03-14",
        "status": "active",
    }
    assert alice_client.post("/api/v1/cycles/", body).status_code == 201
    assert alice_client.post("/api/v1/cycles/", {**body, "name": "B"}).status_code == 409


def test_a_cycle_ends_after_it_starts(alice_client: TenantClient, squad: Squad) -> None:
    response = alice_client.post(
        "/api/v1/cycles/",
        {
            "squad": squad.pk,
            "name": "A",
            "goal": "g",
            "starts_on": "2026-03-14",
            "ends_on": "2026-03-01",
        },
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"ends_on": ["Before starts_on."]}


def test_saves_count_accounts_that_left_poor_health_while_an_item_was_worked(
    alice_client: TenantClient, squad: Squad
) -> None:
    use_components(active_days_component())
    saved = worked_item(squad, effort=30)
    still_poor = worked_item(squad, effort=30)
    never_poor = worked_item(squad, effort=30)
    opened = timezone.now() - dt.timedelta(hours=2)
    for days_ago in range(5):
        usage(never_poor.account, days_ago)  # 50: average before and after
    scored_at(opened - dt.timedelta(hours=1), saved.account, still_poor.account, never_poor.account)
    for days_ago in range(7):
        usage(saved.account, days_ago)  # 70: good by the time the item is closed
    scored_at(opened + dt.timedelta(hours=1), saved.account, still_poor.account)
    WorkItem.objects.filter(queue=squad.queue).update(created_at=opened)
    card = alice_client.get(f"/api/v1/squads/{squad.pk}/scorecard/").json()
    assert card["saves"] == 1
    rows = alice_client.get(card["links"]["saves"]).json()["results"]
    assert [row["id"] for row in rows] == [saved.pk]
    others = alice_client.get(card["links"]["items_closed"] + "&saved=false").json()["results"]
    assert sorted(row["id"] for row in others) == sorted([still_poor.pk, never_poor.pk])
