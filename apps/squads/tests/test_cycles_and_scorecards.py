"""Cycles (the squad's learning record) and scorecards (its own figures, linked to rows)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.accounts.tests.factories import AccountFactory, SubscriptionFactory
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
    # ARR kept 2 x 6,000 over 1.5 hours at 60 an hour.
    assert card.roi == round(12_000 / 90, 4)
    assert card.customer_equity == Decimal("120000.00"), "ARR x 10 years when unscored"


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


def test_saves_count_accounts_a_completed_item_took_out_of_poor_health(
    alice_client: TenantClient, squad: Squad
) -> None:
    saved = worked_item(squad, effort=30)
    still_poor = worked_item(squad, effort=30)
    never_poor = worked_item(squad, effort=30)
    WorkItem.objects.filter(pk=saved.pk).update(band_at_open="poor", band_at_close="average")
    WorkItem.objects.filter(pk=still_poor.pk).update(band_at_open="poor", band_at_close="poor")
    WorkItem.objects.filter(pk=never_poor.pk).update(band_at_open="average", band_at_close="good")
    card = alice_client.get(f"/api/v1/squads/{squad.pk}/scorecard/").json()
    assert card["saves"] == 1
    rows = alice_client.get(card["links"]["saves"]).json()["results"]
    assert [row["id"] for row in rows] == [saved.pk]
