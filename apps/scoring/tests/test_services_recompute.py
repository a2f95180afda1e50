from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.accounts.models import Account
from apps.accounts.tests.factories import (
    AccountFactory,
    ContactFactory,
    MilestoneFactory,
    OnboardingPlanFactory,
    SubscriptionFactory,
    SurveyResponseFactory,
    TicketFactory,
    UsageEventFactory,
    record_published_events,
)
from apps.scoring.events import HealthBandChanged, HealthScoresChanged
from apps.scoring.metrics import METRICS, components_normalise
from apps.scoring.models import HealthProfile, HealthScore, HealthSnapshot
from apps.scoring.services import (
    health_profile_default_ensure,
    health_recompute,
    health_recompute_marked,
)
from apps.scoring.tests.helpers import active_days_component, points, today, usage, use_components

pytestmark = pytest.mark.usefixtures("tenant_a")

IDENTITY = points((-1000, 0), (1000, 100))  # any mapping: the test reads raw values


def _raw_values(score: HealthScore) -> list[float | None]:
    return score.components[0::3]


def test_every_metric_of_the_catalogue_reads_its_hand_computed_raw_value() -> None:
    account = AccountFactory.create()
    for days_ago, name, count in [
        (0, "login", 3),
        (11, "login", 2),
        (11, "export", 1),
        (29, "login", 5),
        (45, "login", 10),  # the previous 30-day window only
    ]:
        usage(account, days_ago, name, count)
    start = today() - dt.timedelta(days=200)
    SubscriptionFactory.create(
        account=account, quantity=4, period_start=start, period_end=today() + dt.timedelta(days=45)
    )
    for contact in ContactFactory.create_batch(2, account=account):
        UsageEventFactory.create(account=account, contact=contact)
    now = timezone.now()
    for priority, status, closed in [
        ("urgent", "open", None),
        ("normal", "pending", None),
        ("high", "closed", now - dt.timedelta(days=1)),
    ]:
        TicketFactory.create(
            account=account,
            priority=priority,
            status=status,
            opened_at=now - dt.timedelta(days=3),
            closed_at=closed,
        )
    SurveyResponseFactory.create(
        account=account, kind="nps", score=8, responded_at=now - dt.timedelta(days=20)
    )
    SurveyResponseFactory.create(
        account=account, kind="csat", score=4, responded_at=now - dt.timedelta(days=2)
    )
    plan = OnboardingPlanFactory.create(account=account, started_on=start)
    MilestoneFactory.create(plan=plan, completed_on=start + dt.timedelta(days=5))
    MilestoneFactory.create(plan=plan, due_on=today() - dt.timedelta(days=3))
    MilestoneFactory.create(plan=plan, due_on=today() + dt.timedelta(days=30))
    MilestoneFactory.create(plan=plan, due_on=None)
    components = [
        {"key": name, "metric": name, "weight": 1, "mapping": IDENTITY} for name in METRICS
    ]
    components.append(
        {
            "key": "logins",
            "metric": "event_count",
            "events": ["login"],
            "weight": 1,
            "mapping": IDENTITY,
        }
    )
    use_components(*components)

    health_recompute(account_ids=[account.id])

    raw = dict(
        zip([c["key"] for c in components], _raw_values(HealthScore.objects.get()), strict=True)
    )
    assert raw == {
        "event_count": 11,
        "active_days": 3,
        "breadth": 2,
        "usage_trend": 10.0,  # 11 vs 10 events in the 30 days before
        "days_since_activity": 0,
        "seat_utilisation": 50.0,  # 2 active contacts on 4 seats
        "support_load": 6.0,  # urgent 5 + normal 1; the closed ticket no longer counts
        "sentiment": 75.0,  # the latest answer: CSAT 4 of 1..5
        "onboarding_progress": 25.0,  # 1 of 4 milestones done
        "milestones_overdue": 1,
        "days_to_renewal": 45,
        "payment_past_due": 0,
        "logins": 10,
    }


def test_seat_utilisation_counts_the_contacts_active_in_its_window_per_seat() -> None:
    account = AccountFactory.create()
    SubscriptionFactory.create(
        account=account,
        quantity=3,
        period_start=today() - dt.timedelta(days=100),
        period_end=today() + dt.timedelta(days=100),
    )
    SubscriptionFactory.create(  # a second term in force: 3 + 5 = 8 seats
        account=account,
        quantity=5,
        period_start=today() - dt.timedelta(days=10),
        period_end=today() + dt.timedelta(days=300),
    )
    SubscriptionFactory.create(  # ended: its seats no longer count
        account=account,
        quantity=50,
        period_start=today() - dt.timedelta(days=400),
        period_end=today() - dt.timedelta(days=35),
    )
    busy, quiet, lapsed, _never_active = ContactFactory.create_batch(4, account=account)
    now = timezone.now()
    for contact, days_ago in [(busy, 1), (busy, 2), (busy, 20), (quiet, 13), (lapsed, 40)]:
        UsageEventFactory.create(
            account=account, contact=contact, occurred_at=now - dt.timedelta(days=days_ago)
        )
    UsageEventFactory.create(account=account, contact=None)  # no contact: nobody active
    other = AccountFactory.create()
    UsageEventFactory.create(  # another account's contact
        account=other, contact=ContactFactory.create(account=other)
    )
    use_components(
        {"key": "seats30", "metric": "seat_utilisation", "weight": 1, "mapping": IDENTITY},
        {
            "key": "seats60",
            "metric": "seat_utilisation",
            "window_days": 60,
            "weight": 1,
            "mapping": IDENTITY,
        },
    )

    health_recompute(account_ids=[account.id])

    # 30 days: busy and quiet of 8 seats; 60 days: lapsed too.
    assert _raw_values(HealthScore.objects.get(account=account)) == [25.0, 37.5]


def test_thresholds_map_linearly_between_points_and_flat_beyond_them() -> None:
    use_components(
        {"metric": "event_count", "weight": 1, "mapping": points((10, 20), (20, 60), (40, 100))}
    )
    below, between, above = AccountFactory.create_batch(3)
    usage(below, 1, count=4)
    usage(between, 1, count=15)
    usage(above, 1, count=90)

    health_recompute()

    scores = dict(HealthScore.objects.values_list("account_id", "score"))
    assert scores == {below.id: 20.0, between.id: 40.0, above.id: 100.0}


def test_a_lower_is_better_metric_is_mapped_by_descending_thresholds() -> None:
    use_components(
        {
            "metric": "days_since_activity",
            "weight": 1,
            "window_days": 90,
            "mapping": points((0, 100), (30, 0)),
        }
    )
    fresh, stale, silent = AccountFactory.create_batch(3)
    usage(fresh, 3)
    usage(stale, 15)

    health_recompute()

    scores = dict(HealthScore.objects.values_list("account_id", "score"))
    assert scores == {fresh.id: 90.0, stale.id: 50.0, silent.id: 0.0}


def test_percentiles_rank_accounts_within_their_segment() -> None:
    use_components({"metric": "active_days", "weight": 1, "mapping": {"kind": "percentile"}})
    low, middle, high = AccountFactory.create_batch(3, segment="smb")
    lone = AccountFactory.create(segment="enterprise")
    for account, days in [(low, 1), (middle, 2), (high, 3), (lone, 9)]:
        for day in range(days):
            usage(account, day)

    health_recompute()

    scores = dict(HealthScore.objects.values_list("account_id", "score"))
    assert scores == {low.id: 0.0, middle.id: 50.0, high.id: 100.0, lone.id: 0.0}


def test_an_incremental_pass_ranks_a_percentile_against_the_whole_segment() -> None:
    use_components({"metric": "active_days", "weight": 1, "mapping": {"kind": "percentile"}})
    accounts = AccountFactory.create_batch(3)
    for rank, account in enumerate(accounts):
        for day in range(rank + 1):
            usage(account, day)

    health_recompute(account_ids=[accounts[1].id])

    assert HealthScore.objects.get().score == 50.0


def test_a_missing_input_spreads_its_weight_over_the_others_and_says_so() -> None:
    use_components(
        active_days_component(weight=30),
        {"metric": "sentiment", "weight": 70, "mapping": points((0, 0), (100, 100))},
    )
    account = AccountFactory.create()
    for day in range(4):
        usage(account, day)

    health_recompute()

    score = HealthScore.objects.get()
    assert score.score == 40.0  # active days alone, at full weight
    # (raw, score, effective weight) per component: sentiment has no input and no weight.
    assert score.components == [4.0, 40.0, 100.0, None, None, 0.0]


def test_an_account_without_any_input_is_left_unscored() -> None:
    use_components({"metric": "sentiment", "weight": 1, "mapping": points((0, 0), (100, 100))})
    AccountFactory.create()

    assert health_recompute().scored == 0
    assert not HealthScore.objects.exists()


@pytest.mark.parametrize(
    ("events", "band"),
    [(700, "good"), (699, "average"), (400, "average"), (399, "poor")],
)
def test_bands_are_good_from_70_average_from_40_and_poor_below(events: int, band: str) -> None:
    use_components({"metric": "event_count", "weight": 1, "mapping": points((0, 0), (1000, 100))})
    account = AccountFactory.create()
    usage(account, 0, count=events)

    health_recompute()

    assert Account.objects.get(pk=account.pk).health_band == band


def test_the_most_specific_profile_scores_an_account() -> None:
    health_profile_default_ensure()
    HealthProfile.objects.create(
        name="SMB", segment="smb", components=components_normalise([active_days_component()])
    )
    smb = AccountFactory.create(segment="smb")
    enterprise = AccountFactory.create(segment="enterprise")
    usage(smb, 0, count=5)
    usage(enterprise, 0, count=5)

    health_recompute()

    profiles = dict(HealthScore.objects.values_list("account_id", "profile__name"))
    assert profiles == {smb.id: "SMB", enterprise.id: "Default health"}


def test_a_band_change_publishes_exactly_one_event_and_a_history_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_components(active_days_component())
    account = AccountFactory.create()
    usage(account, 0)
    published = record_published_events(monkeypatch)

    health_recompute()  # first score: poor (10)
    health_recompute()  # nothing new: no event
    for day in range(1, 8):
        usage(account, day)
    health_recompute()  # 8 active days: good (80)
    health_recompute()

    changes = [event for event in published if isinstance(event, HealthBandChanged)]
    assert [(e.previous_band, e.band, e.previous_score, e.score) for e in changes] == [
        (None, "poor", None, 10.0),
        ("poor", "good", 10.0, 80.0),
    ]
    assert [e.account_ids for e in published if isinstance(e, HealthScoresChanged)] == [
        [account.id],
        [account.id],
    ]
    history = list(HealthSnapshot.objects.order_by("id").values_list("band_change", "score"))
    # One daily row (the day's latest score) plus one per band change.
    assert sorted(history) == [(False, 80.0), (True, 10.0), (True, 80.0)]


def test_the_current_score_remembers_the_score_it_replaced() -> None:
    use_components(active_days_component())
    account = AccountFactory.create()
    usage(account, 0)
    health_recompute()
    usage(account, 1)
    health_recompute()
    health_recompute()

    score = HealthScore.objects.get()
    assert (score.score, score.previous_score, score.previous_band) == (20.0, 10.0, "poor")
    refreshed = Account.objects.get(pk=account.pk)
    assert (refreshed.health_score, refreshed.health_band) == (20.0, "poor")


def test_an_incremental_pass_scores_only_marked_accounts_and_clears_their_marks() -> None:
    use_components(active_days_component())
    marked, unmarked = AccountFactory.create_batch(2)
    usage(marked, 0)
    usage(unmarked, 0)
    Account.objects.filter(pk=marked.pk).update(rescore_requested_at=timezone.now())

    result = health_recompute_marked()

    assert result.scored == 1
    assert list(HealthScore.objects.values_list("account_id", flat=True)) == [marked.id]
    assert not Account.objects.filter(rescore_requested_at__isnull=False).exists()
    assert health_recompute_marked().scored == 0


def test_the_trend_is_the_change_since_the_daily_snapshot_30_days_ago() -> None:
    use_components(active_days_component())
    account = AccountFactory.create()
    for day in (30, 3, 2, 1, 0):
        usage(account, day)
    health_recompute(as_of=timezone.now() - dt.timedelta(days=30))  # 1 active day then: 10
    health_recompute()  # 4 active days in the last 30: 40

    assert Account.objects.get(pk=account.pk).health_trend == 30.0
