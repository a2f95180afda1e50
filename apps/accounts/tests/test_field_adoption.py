"""Stored adoption days: the rebuild, what the field report reads from them, tenant isolation.

The field figures themselves are checked both ways (stored and scanned) by the parametrized
book of test_field_selectors.py; here, the table and when the report may trust it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.conf import settings

from apps.accounts.field.adoption import PLAN_ADOPTION_REBUILD_TASK, plan_adoption_rebuild
from apps.accounts.field.selectors import FieldParameters, field_funnel, field_report
from apps.accounts.models import Account, OnboardingPlan, PlanAdoption, PlanAdoptionBuild
from apps.accounts.revenue.periods import Period
from apps.accounts.tasks import plan_adoption_rebuild_task
from apps.accounts.tests.field_book import AS_OF, END, START, Book, build_book, events
from fullfield.celery_app import app
from fullfield.tenancy.context import use_tenant
from fullfield.tenancy.models import Tenant
from tests.fixtures import World


@pytest.fixture
def book(tenant_a: Tenant) -> Book:
    return build_book()


def parameters(**extra: Any) -> FieldParameters:
    return FieldParameters(period=Period(start=START, end=END), as_of=AS_OF, **extra)


def stored() -> dict[int, tuple[date, date | None]]:
    return {row.plan_id: (row.live_on, row.adopted_on) for row in PlanAdoption.objects.all()}


def adopted() -> tuple[int, Any]:
    """The adopted step at the default settings: (count, median days)."""
    step = field_funnel(parameters=parameters()).steps[6]
    return step.count, step.median_days_in_step


def adopted_scanned() -> tuple[int, Any]:
    """The same, forced to scan usage (every book event is report.viewed, so naming it
    changes no figure, but it is not the default setting)."""
    step = field_funnel(parameters=parameters(adoption_event="report.viewed")).steps[6]
    return step.count, step.median_days_in_step


def test_the_build_stores_each_completed_plans_adoption_day(book: Book) -> None:
    build = plan_adoption_rebuild(built_on=date(2026, 3, 8))

    acme, halo = book.plans["acme"].id, book.plans["halo"].id
    # Acme: 4 events a day from 03-05, 12 by 03-07; Halo: 5 events in its window; Bolt's plan
    # is not completed.
    assert stored() == {
        acme: (date(2026, 3, 5), date(2026, 3, 7)),
        halo: (date(2026, 1, 10), None),
    }
    assert build.plans == 2
    record = PlanAdoptionBuild.objects.get()
    assert (record.built_on, record.built_at) == (date(2026, 3, 8), build.built_at)
    assert (record.threshold, record.window_days) == (10, 30)


def test_a_rebuild_over_an_old_build_equals_a_fresh_build(book: Book) -> None:
    plan_adoption_rebuild(built_on=date(2026, 3, 6))
    before = stored()
    # Since: Halo logged 10 more events on 01-20 (within its window), Bolt went live on
    # 04-01 and logged 12 events that day, and Acme's plan was deleted.
    events(book.accounts["halo"], "2026-01-20", days=1, per_day=10)
    events(book.accounts["bolt"], "2026-04-01", days=1, per_day=12)
    OnboardingPlan.objects.filter(pk=book.plans["bolt"].pk).update(completed_on=date(2026, 4, 1))
    OnboardingPlan.objects.filter(pk=book.plans["acme"].pk).delete()
    from apps.accounts.services.usage import usage_rollup_rebuild

    usage_rollup_rebuild()

    assert plan_adoption_rebuild_task.run() == 2
    rebuilt = stored()
    PlanAdoption.objects.all().delete()
    PlanAdoptionBuild.objects.all().delete()
    plan_adoption_rebuild()

    assert rebuilt == stored() != before
    assert rebuilt == {
        book.plans["halo"].id: (date(2026, 1, 10), date(2026, 1, 20)),
        book.plans["bolt"].id: (date(2026, 4, 1), date(2026, 4, 1)),
    }


def test_the_report_says_as_of_when_the_adoption_days_were_stored(book: Book) -> None:
    assert field_report(parameters=parameters()).adoption_as_of is None
    build = plan_adoption_rebuild()

    assert field_report(parameters=parameters()).adoption_as_of == build.built_at
    # Other adoption settings scan usage, and say so.
    report = field_report(parameters=parameters(adoption_threshold=11))
    assert report.adoption_as_of is None


def test_usage_added_after_the_build_shows_after_the_next_build(book: Book) -> None:
    plan_adoption_rebuild()
    assert adopted() == adopted_scanned() == (1, 2)
    # Halo's usage arrives late: 10 events on 01-20, within its window, long closed.
    events(book.accounts["halo"], "2026-01-20", days=1, per_day=10)
    from apps.accounts.services.usage import usage_rollup_rebuild

    usage_rollup_rebuild()

    # The stored days were settled before: the report keeps them, as of their build ...
    assert adopted() == (1, 2)
    # ... which a scan of usage does not.
    assert adopted_scanned() == (2, 6)
    plan_adoption_rebuild()
    assert adopted() == adopted_scanned() == (2, 6)


def test_a_plan_changed_after_the_build_is_scanned(book: Book) -> None:
    plan_adoption_rebuild()
    # Halo's plan now went live on 01-13: from then, 2 of its events fall in the window.
    OnboardingPlan.objects.filter(pk=book.plans["halo"].pk).update(completed_on=date(2026, 1, 13))
    events(book.accounts["halo"], "2026-01-16", days=1, per_day=8)
    from apps.accounts.services.usage import usage_rollup_rebuild

    usage_rollup_rebuild()

    # 2 events on 01-13 and 01-14, 8 on 01-16: adopted 3 days after going live.
    assert adopted() == adopted_scanned() == (2, 2.5)


def test_a_plan_whose_window_was_open_at_the_build_is_scanned(book: Book) -> None:
    # Built on 03-06, Acme (live 03-05) had 8 events: not adopted yet, its window open.
    plan_adoption_rebuild(built_on=date(2026, 3, 6))
    assert stored()[book.plans["acme"].id] == (date(2026, 3, 5), None)
    assert adopted() == adopted_scanned() == (1, 2)


def test_each_tenant_builds_and_reads_only_its_own_adoption_days(book: Book, world: World) -> None:
    plan_adoption_rebuild()
    in_a = stored()
    use_tenant(world.tenant_b)
    try:
        assert not PlanAdoption.objects.exists()
        assert not PlanAdoptionBuild.objects.exists()
        other = Account.objects.create(name="Other tenant's account")
        plan = OnboardingPlan.objects.create(
            account=other, started_on=date(2026, 1, 1), completed_on=date(2026, 1, 2)
        )
        assert plan_adoption_rebuild().plans == 1
        assert stored() == {plan.id: (date(2026, 1, 2), None)}
        assert field_report(parameters=parameters()).funnel.steps[6].count == 0
    finally:
        use_tenant(world.tenant_a)
    assert stored() == in_a
    assert adopted() == (1, 2)


def test_the_rebuild_runs_nightly_in_every_tenant() -> None:
    nightly = [
        entry
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["args"] == [PLAN_ADOPTION_REBUILD_TASK]
    ]
    assert len(nightly) == 1
    assert nightly[0]["task"] == "fullfield.fan_out"
    app.loader.import_default_modules()
    assert PLAN_ADOPTION_REBUILD_TASK in app.tasks
