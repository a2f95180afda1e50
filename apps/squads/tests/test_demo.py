"""The demo tenant's squads: a living queue for a new user."""

from __future__ import annotations

import io

import pytest
from django.utils import timezone

from apps.accounts.seed.writer import tenant_seed
from apps.squads.demo import seed_squads_demo
from apps.squads.models import Cycle, Play, Squad, WorkItem
from apps.squads.selectors import squad_shape

pytestmark = pytest.mark.usefixtures("tenant_a")


def test_the_demo_has_two_squads_with_a_skill_gap_active_plays_and_work_in_progress() -> None:
    tenant_seed(anchor=timezone.now().date(), accounts=300, months=12, seed=3, usage_scale=0.2)
    output = io.StringIO()
    seed_squads_demo(stdout=output)
    assert output.getvalue().startswith("demo squads: 2 squads, 11 members")
    squads = {squad.name: squad for squad in Squad.objects.all()}
    assert set(squads) == {"Enterprise retention", "Product adoption"}
    assert squad_shape(squad=squads["Enterprise retention"]).skill_gaps == []
    assert squad_shape(squad=squads["Product adoption"]).skill_gaps == ["product"]
    assert Play.objects.filter(status="active").count() == 5
    statuses = set(WorkItem.objects.values_list("status", flat=True))
    assert {"open", "claimed", "snoozed", "done"} <= statuses
    assert WorkItem.objects.filter(play__isnull=False).count() > 10
    assert list(Cycle.objects.values_list("status", flat=True).order_by("starts_on")) == [
        "closed",
        "active",
    ]


def test_the_demo_squads_are_seeded_once() -> None:
    tenant_seed(anchor=timezone.now().date(), accounts=50, months=6, seed=4, usage_scale=0.1)
    seed_squads_demo(stdout=io.StringIO())
    again = io.StringIO()
    seed_squads_demo(stdout=again)
    assert "nothing seeded" in again.getvalue()
    assert Squad.objects.count() == 2
