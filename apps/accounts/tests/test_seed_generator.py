"""The seed generator's plan, without a database: determinism, sizes and realism invariants."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from apps.accounts.models import SurveyResponse
from apps.accounts.seed.generator import (
    AccountPlan,
    SeedConfig,
    SubscriptionRecord,
    add_months,
    iter_account_plans,
)
from fullfield.errors import DomainError

ANCHOR = date(2025, 6, 15)


def plans(accounts: int = 30, months: int = 6, seed: int = 7) -> list[AccountPlan]:
    return list(
        iter_account_plans(SeedConfig(anchor=ANCHOR, accounts=accounts, months=months, seed=seed))
    )


@pytest.fixture(scope="module")
def large() -> list[AccountPlan]:
    """Enough accounts for every fate, segment and lifecycle stage to appear."""
    return plans(accounts=300, months=18, seed=11)


def in_force(terms: list[SubscriptionRecord], day: date) -> list[SubscriptionRecord]:
    return [term for term in terms if term.in_force_on(day)]


def test_the_same_seed_size_and_anchor_give_identical_records() -> None:
    assert plans() == plans()


def test_another_seed_gives_another_tenant() -> None:
    first, second = plans(seed=1), plans(seed=2)
    assert [p.account.name for p in first] != [p.account.name for p in second]


def test_growing_the_size_keeps_the_accounts_already_generated() -> None:
    assert plans(accounts=40)[:30] == plans(accounts=30)


def test_the_requested_number_of_accounts_is_generated_with_unique_names_and_domains() -> None:
    generated = plans(accounts=120)
    assert len(generated) == 120
    assert len({p.account.name for p in generated}) == 120
    assert len({p.account.domain for p in generated}) == 120


def test_out_of_range_sizes_are_refused_naming_the_parameter() -> None:
    with pytest.raises(DomainError) as refused:
        SeedConfig(anchor=ANCHOR, accounts=0, months=0)
    assert set(refused.value.fields) == {"accounts", "months"}


def test_add_months_clamps_to_the_end_of_shorter_months() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2025, 3, 31), -1) == date(2025, 2, 28)
    assert add_months(date(2025, 6, 15), -18) == date(2023, 12, 15)


def test_dated_activity_lies_within_the_requested_months_before_the_anchor(
    large: list[AccountPlan],
) -> None:
    window_start = datetime(2023, 12, 15, tzinfo=UTC)
    anchor = datetime(2025, 6, 15, tzinfo=UTC)
    moments = [event[2] for p in large for event in p.usage]
    moments += [t.opened_at for p in large for t in p.tickets]
    moments += [s.responded_at for p in large for s in p.surveys]
    moments += [t.occurred_at for p in large for t in p.touchpoints]
    assert moments
    assert all(window_start <= moment < anchor for moment in moments)
    for p in large:
        for term in p.subscriptions:
            assert term.period_end is None or term.period_end > window_start.date()


def test_segments_have_distinct_mrr_ranges(large: list[AccountPlan]) -> None:
    mrr_by_segment: dict[str, list[Decimal]] = defaultdict(list)
    for p in large:
        current = sum((t.mrr for t in in_force(p.subscriptions, ANCHOR)), Decimal(0))
        if current:
            mrr_by_segment[p.account.segment].append(current)
    average = {segment: sum(v) / len(v) for segment, v in mrr_by_segment.items()}
    assert average["smb"] < average["mid-market"] < average["enterprise"]


def test_terms_of_a_subscription_line_never_overlap_and_end_after_they_start(
    large: list[AccountPlan],
) -> None:
    for p in large:
        lines: dict[int, list[SubscriptionRecord]] = defaultdict(list)
        for term in p.subscriptions:
            assert term.period_end is None or term.period_end > term.period_start
            lines[term.line].append(term)
        for terms in lines.values():
            terms.sort(key=lambda term: term.period_start)
            for earlier, later in itertools.pairwise(terms):
                assert earlier.period_end is not None, p.account.external_id
                assert earlier.period_end <= later.period_start, p.account.external_id


def test_change_kinds_match_the_mrr_movement_between_consecutive_terms(
    large: list[AccountPlan],
) -> None:
    seen: set[str] = set()
    for p in large:
        platform = sorted((t for t in p.subscriptions if t.line == 0), key=lambda t: t.period_start)
        for earlier, later in itertools.pairwise(platform):
            seen.add(later.change_kind)
            if later.change_kind == "renewal":
                assert later.mrr == earlier.mrr and later.period_start == earlier.period_end
            elif later.change_kind == "upgrade":
                assert later.mrr > earlier.mrr
            elif later.change_kind == "downgrade":
                assert Decimal(0) < later.mrr < earlier.mrr
            elif later.change_kind == "cancellation":
                assert later.mrr == 0 and later.status == "canceled"
            elif later.change_kind == "reactivation":
                assert earlier.change_kind == "cancellation" and later.mrr > 0
            else:
                pytest.fail(f"unexpected {later.change_kind} after the first term")
    assert seen == {"renewal", "upgrade", "downgrade", "cancellation", "reactivation"}


def test_lifecycle_stages_agree_with_subscriptions_at_the_anchor(
    large: list[AccountPlan],
) -> None:
    stages = {p.account.lifecycle_stage for p in large}
    assert stages == {"prospect", "onboarding", "adopting", "renewing", "expanding", "churned"}
    for p in large:
        current = in_force(p.subscriptions, ANCHOR)
        stage = p.account.lifecycle_stage
        if stage == "prospect":
            assert not p.subscriptions
        elif stage == "churned":
            assert p.subscriptions and not current
            assert any(t.change_kind == "cancellation" for t in p.subscriptions)
        else:
            assert current, p.account.external_id
        if stage == "onboarding":
            starts = [
                t.period_start for t in p.subscriptions if t.change_kind in ("new", "reactivation")
            ]
            assert starts and (ANCHOR - max(starts)).days <= 150


def test_churned_accounts_lose_the_renewal_and_leave_no_usage_after_churn(
    large: list[AccountPlan],
) -> None:
    churned = [p for p in large if p.account.lifecycle_stage == "churned"]
    assert churned
    for p in churned:
        churned_on = max(t.period_start for t in p.subscriptions if t.change_kind == "cancellation")
        assert all(event[2].date() < churned_on for event in p.usage)


def test_healthy_accounts_use_the_product_more_than_churning_ones(
    large: list[AccountPlan],
) -> None:
    def weekly_usage(p: AccountPlan) -> float:
        paid_days = sum(
            (min(t.period_end or ANCHOR, ANCHOR) - max(t.period_start, date(2023, 12, 15))).days
            for t in p.subscriptions
            if t.line == 0 and t.status != "canceled" and t.period_start < ANCHOR
        )
        return len(p.usage) / max(1, paid_days) * 7

    by_fate: dict[str, list[float]] = defaultdict(list)
    for p in large:
        if p.account.segment == "smb":  # one segment, so volume differences are health alone
            by_fate[p.fate].append(weekly_usage(p))
    mean = {fate: sum(values) / len(values) for fate, values in by_fate.items() if values}
    assert mean["thriving"] > mean["steady"] > mean["churning"]


def test_churning_accounts_use_the_product_less_in_the_months_before_they_leave(
    large: list[AccountPlan],
) -> None:
    before, last = 0, 0
    for p in large:
        if p.fate != "churning":
            continue
        churned_on = max(t.period_start for t in p.subscriptions if t.change_kind == "cancellation")
        for event in p.usage:
            days_before = (churned_on - event[2].date()).days
            if 0 < days_before <= 60:
                last += 1
            elif 120 < days_before <= 180:
                before += 1
    assert last < before * 0.75


def test_survey_scores_are_in_range_for_their_kind_and_name_a_moment(
    large: list[AccountPlan],
) -> None:
    kinds = set()
    for p in large:
        for survey in p.surveys:
            low, high = SurveyResponse.SCORE_RANGES[survey.kind]
            assert low <= survey.score <= high
            assert survey.moment
            kinds.add(survey.kind)
    assert kinds == {"nps", "csat", "ces"}


def test_tickets_are_answered_after_opening_and_open_ones_have_no_close_time(
    large: list[AccountPlan],
) -> None:
    tickets = [t for p in large for t in p.tickets]
    assert {t.priority for t in tickets} == {"urgent", "high", "normal", "low"}
    for ticket in tickets:
        if ticket.first_response_at is not None:
            assert ticket.first_response_at >= ticket.opened_at
        if ticket.closed_at is not None:
            assert ticket.closed_at >= ticket.opened_at
            assert ticket.status in ("solved", "closed")
        else:
            assert ticket.status in ("open", "pending")


def test_some_onboarding_milestones_are_overdue_and_completions_follow_the_plan_start(
    large: list[AccountPlan],
) -> None:
    overdue = 0
    for p in large:
        for plan in p.onboarding_plans:
            for milestone in plan.milestones:
                if milestone.completed_on is not None:
                    assert plan.started_on <= milestone.completed_on < ANCHOR
                elif milestone.due_on < ANCHOR:
                    overdue += 1
    assert overdue > 0


def test_accounts_have_contacts_with_personas_and_some_champions(large: list[AccountPlan]) -> None:
    assert all(p.contacts for p in large)
    personas = {c.persona for p in large for c in p.contacts}
    assert {"decision_maker", "admin", "executive_sponsor", "user"} <= personas
    assert any(c.is_champion for p in large for c in p.contacts)


def test_a_few_accounts_are_subsidiaries_of_an_earlier_enterprise_customer(
    large: list[AccountPlan],
) -> None:
    children = [p for p in large if p.account.parent_index is not None]
    assert 0 < len(children) < len(large) * 0.1
    for child in children:
        parent = large[child.account.parent_index]  # type: ignore[index]
        assert parent.account.segment == "enterprise"
        assert child.account.name.startswith(parent.account.name)


def test_opportunities_cover_new_expansion_and_renewal_deals_won_lost_and_open(
    large: list[AccountPlan],
) -> None:
    deals = [o for p in large for o in p.opportunities]
    assert {(o.kind, o.status) for o in deals} == {
        (kind, status)
        for kind in ("new", "expansion", "renewal")
        for status in ("won", "lost", "open")
    }
    for deal in deals:
        assert deal.amount >= 0
        assert bool(deal.loss_reason) == (deal.status == "lost")
        if deal.status == "open":
            assert deal.close_date >= ANCHOR


def test_some_leads_are_converted_into_their_accounts(large: list[AccountPlan]) -> None:
    leads = [lead for p in large for lead in p.leads]
    converted = [lead for lead in leads if lead.status == "converted"]
    assert converted and len(converted) < len(leads)
    assert all(lead.converted_at is not None for lead in converted)
    # A lead comes in before it is converted: the field's "converted" step measures the days
    # between, and came out negative when every lead was recorded at seeding time.
    assert all(lead.converted_at >= lead.created_at for lead in converted if lead.converted_at)
    assert all(lead.created_at.date() < ANCHOR for lead in leads)
    assert len({lead.created_at.date() for lead in leads}) > len(leads) // 4


def test_usage_scale_sets_the_event_volume_for_benchmarks() -> None:
    def events(scale: float) -> int:
        config = SeedConfig(anchor=ANCHOR, accounts=40, months=6, seed=3, usage_scale=scale)
        return sum(len(p.usage) for p in iter_account_plans(config))

    realistic, light = events(1.0), events(0.2)
    assert events(0.0) == 0
    assert 0 < light < realistic * 0.3
    with pytest.raises(DomainError) as refused:
        SeedConfig(anchor=ANCHOR, usage_scale=-1)
    assert "usage_scale" in refused.value.fields
