"""Plays: triggers over the account record, dedup and re-enrolment, drafts, disabling, dry
runs, previews, the audit of runs, and evaluation on domain events."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from apps.accounts.events import AccountsTouched
from apps.accounts.models import Account
from apps.accounts.services.usage import usage_rollup_rebuild
from apps.accounts.tests.factories import (
    AccountFactory,
    MilestoneFactory,
    OpportunityFactory,
    SubscriptionFactory,
    SurveyResponseFactory,
    UsageEventFactory,
    record_published_events,
)
from apps.scoring.events import HealthBandChanged
from apps.scoring.models import HealthScore, band_of
from apps.scoring.services import health_recompute
from apps.scoring.tests.helpers import active_days_component, use_components
from apps.scoring.tests.helpers import usage as usage_day
from apps.squads.events import WorkItemCreated
from apps.squads.models import Play, PlayRun, WorkItem
from apps.squads.plays import play_disable, play_run, plays_evaluate_event, plays_run_scheduled
from apps.squads.tests.factories import PlayFactory, make_squad
from fullfield import events
from tests.fixtures import TenantClient

pytestmark = pytest.mark.usefixtures("tenant_a")

TODAY = dt.date(2026, 3, 16)


def run(play: Play, **kwargs: Any) -> PlayRun:
    return play_run(play=play, cause="manual", **kwargs)


def open_items(play: Play) -> list[WorkItem]:
    return list(WorkItem.objects.filter(play=play, status__in=["open", "claimed", "snoozed"]))


# --- dedup, re-enrolment, drafts -------------------------------------------------------------


def test_an_active_play_creates_one_item_per_matching_account_from_its_template() -> None:
    play = PlayFactory.create()
    enterprise = AccountFactory.create(name="Initech", segment="enterprise")
    AccountFactory.create(segment="smb")
    result = run(play)
    (item,) = open_items(play)
    assert (item.account_id, item.title) == (enterprise.pk, "Welcome Initech")
    assert item.checklist == [{"text": "Call", "done": False}, {"text": "Email", "done": False}]
    assert item.queue_id == play.squad.queue.pk
    assert item.due_at is not None
    assert result.created_item_ids == [item.pk]
    assert result.decisions == {str(enterprise.pk): "create"}


def test_while_an_item_is_open_a_new_match_updates_it_instead_of_creating_another() -> None:
    play = PlayFactory.create()
    AccountFactory.create(segment="enterprise")
    first = run(play)
    second = run(play)
    (item,) = open_items(play)
    assert second.created_item_ids == []
    assert second.updated_item_ids == first.created_item_ids == [item.pk]
    assert item.retriggered_count == 1


def test_an_account_is_re_enrolled_at_most_n_times_per_window() -> None:
    play = PlayFactory.create(reenrol_max=2, reenrol_window_days=30)
    account = AccountFactory.create(segment="enterprise")
    for _ in range(2):
        run(play)
        WorkItem.objects.filter(play=play).update(status="done", closed_at=timezone.now())
    third = run(play)
    assert third.created_item_ids == []
    assert third.decisions[str(account.pk)].startswith("skip: enrolled 2 times in the last 30")
    WorkItem.objects.filter(play=play).update(created_at=timezone.now() - dt.timedelta(days=31))
    assert len(run(play).created_item_ids) == 1


def test_a_draft_play_never_creates_items_but_records_what_it_would_do() -> None:
    play = PlayFactory.create(status="draft")
    account = AccountFactory.create(segment="enterprise")
    result = run(play)
    assert open_items(play) == []
    assert result.dry_run is True
    assert result.decisions == {str(account.pk): "create"}


def test_disabling_a_play_dismisses_its_open_items_with_the_reason() -> None:
    play = PlayFactory.create()
    AccountFactory.create_batch(2, segment="enterprise")
    run(play)
    done = WorkItem.objects.filter(play=play).first()
    assert done is not None
    WorkItem.objects.filter(pk=done.pk).update(status="done", closed_at=timezone.now())
    assert play_disable(play=play, reason="Replaced by a better play") == 1
    play.refresh_from_db()
    assert play.status == "disabled"
    statuses = dict(WorkItem.objects.filter(play=play).values_list("status", "dismissed_reason"))
    assert statuses == {"done": "", "dismissed": "Play disabled: Replaced by a better play"}
    assert run(play).created_item_ids == [], "a disabled play creates nothing"


def test_the_audience_limits_a_play_to_its_squads_accounts_when_asked() -> None:
    play = PlayFactory.create(audience={"squad_accounts_only": True})
    ours = AccountFactory.create(segment="enterprise", squad_id=play.squad_id)
    AccountFactory.create(segment="enterprise")
    assert run(play).matched_account_ids == [ours.pk]


def test_a_new_item_is_announced_for_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    published = record_published_events(monkeypatch)
    play = PlayFactory.create()
    account = AccountFactory.create(segment="enterprise")
    (item_id,) = run(play).created_item_ids
    created = [event for event in published if isinstance(event, WorkItemCreated)]
    assert [(e.work_item_id, e.account_id, e.play_id) for e in created] == [
        (item_id, account.pk, play.pk)
    ]
    assert "integrations.webhooks_dispatch" in events.subscribers(WorkItemCreated)


def test_a_play_can_move_matched_accounts_to_a_lifecycle_stage() -> None:
    play = PlayFactory.create(set_lifecycle_stage="onboarding")
    account = AccountFactory.create(segment="enterprise", lifecycle_stage="prospect")
    run(play)
    account.refresh_from_db()
    assert account.lifecycle_stage == "onboarding"


# --- triggers over the account record --------------------------------------------------------


def usage(account: Account, day: dt.date, count: int) -> None:
    at = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    for _ in range(count):
        UsageEventFactory.create(account=account, occurred_at=at)


def test_a_usage_drop_is_read_from_the_daily_rollup() -> None:
    play = PlayFactory.create(
        trigger="usage_drop", trigger_config={"percent": 50, "window_days": 7}, audience={}
    )
    dropped, steady = AccountFactory.create_batch(2)
    for account, recent in ((dropped, 4), (steady, 9)):
        usage(account, TODAY - dt.timedelta(days=10), 10)
        usage(account, TODAY - dt.timedelta(days=3), recent)
    usage_rollup_rebuild()
    assert run(play, today=TODAY).matched_account_ids == [dropped.pk]


def test_a_renewal_within_n_days_matches_unless_a_next_term_is_booked() -> None:
    play = PlayFactory.create(trigger="renewal_within", trigger_config={"days": 60})
    due, renewed, later = AccountFactory.create_batch(3)
    ends = TODAY + dt.timedelta(days=30)
    for account in (due, renewed):
        SubscriptionFactory.create(
            account=account, period_start=dt.date(2025, 4, 15), period_end=ends
        )
    SubscriptionFactory.create(account=renewed, period_start=ends, change_kind="renewal")
    SubscriptionFactory.create(
        account=later, period_start=dt.date(2025, 4, 15), period_end=TODAY + dt.timedelta(days=90)
    )
    assert run(play, today=TODAY).matched_account_ids == [due.pk]


def test_an_overdue_onboarding_milestone_matches_after_the_grace_days() -> None:
    play = PlayFactory.create(trigger="milestone_overdue", trigger_config={"grace_days": 2})
    late = MilestoneFactory.create(due_on=TODAY - dt.timedelta(days=5))
    MilestoneFactory.create(due_on=TODAY - dt.timedelta(days=1))
    MilestoneFactory.create(due_on=TODAY - dt.timedelta(days=9), completed_on=TODAY)
    assert run(play, today=TODAY).matched_account_ids == [late.plan.account_id]


def test_a_low_survey_at_a_moment_that_matters_matches() -> None:
    play = PlayFactory.create(
        trigger="survey_below",
        trigger_config={"kind": "nps", "threshold": 7, "moment": "onboarding"},
    )
    at = dt.datetime.combine(TODAY, dt.time(9), tzinfo=dt.UTC)
    low = SurveyResponseFactory.create(score=3, moment="onboarding", responded_at=at)
    SurveyResponseFactory.create(score=3, moment="support", responded_at=at)
    SurveyResponseFactory.create(score=9, moment="onboarding", responded_at=at)
    assert run(play, today=TODAY).matched_account_ids == [low.account_id]


def test_a_won_deal_starts_onboarding() -> None:
    play = PlayFactory.create(
        trigger="opportunity_won", trigger_config={"kind": "new", "within_days": 7}
    )
    won = OpportunityFactory.create(status="won", close_date=TODAY - dt.timedelta(days=2))
    OpportunityFactory.create(status="open", close_date=TODAY)
    OpportunityFactory.create(status="won", close_date=TODAY - dt.timedelta(days=30))
    assert run(play, today=TODAY).matched_account_ids == [won.account_id]


def test_entering_a_lifecycle_stage_matches_on_the_event_only_for_that_stage() -> None:
    play = PlayFactory.create(
        trigger="lifecycle_stage_entered", trigger_config={"stage": "renewing"}
    )
    account = AccountFactory.create(lifecycle_stage="renewing")
    payload = {"account_id": account.pk, "previous_stage": "adopting", "stage": "renewing"}
    assert len(plays_evaluate_event(event="lifecycle_stage.changed", payload=payload)) == 1
    assert len(open_items(play)) == 1
    other = {"account_id": account.pk, "previous_stage": "renewing", "stage": "adopting"}
    (result,) = plays_evaluate_event(event="lifecycle_stage.changed", payload=other)
    assert result.matched_account_ids == []


# --- events and schedules --------------------------------------------------------------------


def test_a_health_band_change_event_fires_the_plays_watching_that_band() -> None:
    falls = PlayFactory.create(
        trigger="health_band_changed", trigger_config={"to_band": "poor"}, audience={}
    )
    rises = PlayFactory.create(
        trigger="health_band_changed", trigger_config={"to_band": "good"}, audience={}
    )
    account = AccountFactory.create()
    event = HealthBandChanged(
        account_id=account.pk,
        previous_band="average",
        band="poor",
        previous_score=52.0,
        score=31.0,
        as_of=timezone.now().isoformat(),
    )
    runs = plays_evaluate_event(event=event.name, payload=event.payload())
    assert {r.play_id: r.matched_account_ids for r in runs} == {
        falls.pk: [account.pk],
        rises.pk: [],
    }
    assert [item.account_id for item in open_items(falls)] == [account.pk]


def test_touched_accounts_are_evaluated_only_for_themselves() -> None:
    play = PlayFactory.create()
    touched, untouched = AccountFactory.create_batch(2, segment="enterprise")
    event = AccountsTouched(account_ids=[touched.pk])
    (result,) = plays_evaluate_event(event=event.name, payload=event.payload())
    assert (result.cause, result.event, result.matched_account_ids) == (
        "event",
        "accounts.touched",
        [touched.pk],
    )
    assert untouched.pk not in [item.account_id for item in open_items(play)]


def test_the_daily_pass_runs_date_triggers_over_the_whole_audience() -> None:
    play = PlayFactory.create()
    AccountFactory.create_batch(3, segment="enterprise")
    PlayFactory.create(trigger="health_band_changed", trigger_config={"to_band": "poor"})
    runs = plays_run_scheduled()
    assert [(r.play_id, r.matched_count) for r in runs] == [(play.pk, 3)]


def rescored(account: Account, *, score: float, previous: float, hours_ago: float) -> None:
    """The account's current score changed from `previous` after `hours_ago` hours ago."""
    HealthScore.objects.filter(account=account).update(
        score=score,
        band=band_of(score),
        previous_score=previous,
        previous_as_of=timezone.now() - dt.timedelta(hours=hours_ago),
    )


def test_the_daily_pass_evaluates_score_triggers_on_the_current_scores() -> None:
    drop = PlayFactory.create(
        trigger="score_threshold", trigger_config={"threshold": 50, "direction": "below"}
    )
    expand = PlayFactory.create(
        trigger="expansion_signal", trigger_config={"min_score": 70, "min_events": 5}
    )
    crossed, crossed_long_ago, stayed_low, growing = AccountFactory.create_batch(
        4, segment="enterprise"
    )
    use_components(active_days_component())
    for days_ago in range(8):
        usage_day(growing, days_ago)
    health_recompute()
    rescored(crossed, score=45, previous=60, hours_ago=3)
    rescored(crossed_long_ago, score=45, previous=60, hours_ago=24 * 10)
    rescored(stayed_low, score=30, previous=35, hours_ago=3)
    OpportunityFactory.create(account=growing, kind="expansion", status="open", amount=1000)

    runs = plays_run_scheduled(today=timezone.now().date())

    assert {r.play_id: r.matched_account_ids for r in runs} == {
        drop.pk: [crossed.pk],
        expand.pk: [growing.pk],
    }
    assert [item.account_id for item in open_items(drop)] == [crossed.pk]
    assert [item.account_id for item in open_items(expand)] == [growing.pk]


def test_the_play_engine_hears_the_events_it_needs() -> None:
    for name in ("health_band.changed", "health_scores.changed", "accounts.touched"):
        event_type = next(t for t in events.DomainEvent.__subclasses__() if t.name == name)
        assert "squads.plays_evaluate" in events.subscribers(event_type)


# --- API: create, dry run, preview, audit ----------------------------------------------------


def test_alice_creates_a_play_as_a_draft_and_activates_it(alice_client: TenantClient) -> None:
    squad = make_squad()
    response = alice_client.post(
        "/api/v1/plays/",
        {
            "squad": squad.pk,
            "name": "Usage fell by half",
            "trigger": "usage_drop",
            "trigger_config": {"percent": 50, "window_days": 14},
            "audience": {"segment": ["enterprise"]},
            "item_template": {"title": "Usage halved at {account}", "checklist": ["Call"]},
        },
    )
    assert response.status_code == 201, response.content
    play = response.json()
    assert play["status"] == "draft"
    activated = alice_client.post(f"/api/v1/plays/{play['id']}/activate/")
    assert activated.json()["status"] == "active"


def test_a_bad_trigger_configuration_is_refused_by_name(alice_client: TenantClient) -> None:
    response = alice_client.post(
        "/api/v1/plays/",
        {
            "squad": make_squad().pk,
            "name": "Broken",
            "trigger": "renewal_within",
            "trigger_config": {"days": 0},
            "item_template": {"title": "X"},
        },
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "trigger_config": ["days: must be an integer 1..365."]
    }


def test_a_member_cannot_create_plays(bob_client: TenantClient, world: Any) -> None:
    from apps.squads.tests.factories import MemberFactory

    MemberFactory.create(user=world.bob.user)
    response = bob_client.post("/api/v1/plays/", {"name": "Mine"})
    assert response.status_code == 403


def test_a_dry_run_on_one_account_says_what_would_happen_and_changes_nothing(
    alice_client: TenantClient,
) -> None:
    play = PlayFactory.create()
    account = AccountFactory.create(segment="enterprise")
    response = alice_client.post(f"/api/v1/plays/{play.pk}/dry-run/", {"account": account.pk})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["dry_run"], body["matched_account_ids"]) == (True, [account.pk])
    assert body["decisions"] == {str(account.pk): "create"}
    assert open_items(play) == []


def test_a_preview_counts_the_audience_and_the_matches_with_a_sample(
    alice_client: TenantClient,
) -> None:
    play = PlayFactory.create(audience={"region": ["emea"]})
    matching = AccountFactory.create_batch(2, segment="enterprise", region="emea")
    AccountFactory.create(segment="smb", region="emea")
    AccountFactory.create(segment="enterprise", region="apac")
    body = alice_client.get(f"/api/v1/plays/{play.pk}/preview/").json()
    assert (body["audience_count"], body["matching_count"]) == (3, 2)
    assert [row["id"] for row in body["sample"]] == [a.pk for a in matching]


def test_every_run_is_audited(alice_client: TenantClient) -> None:
    play = PlayFactory.create()
    AccountFactory.create(segment="enterprise")
    run(play)
    run(play)
    runs = alice_client.get(f"/api/v1/play-runs/?play={play.pk}").json()["results"]
    assert [(len(r["created_item_ids"]), len(r["updated_item_ids"])) for r in runs] == [
        (0, 1),
        (1, 0),
    ]


def test_disabling_through_the_api_needs_a_reason(alice_client: TenantClient) -> None:
    play = PlayFactory.create()
    assert alice_client.post(f"/api/v1/plays/{play.pk}/disable/", {}).status_code == 400
    body = alice_client.post(f"/api/v1/plays/{play.pk}/disable/", {"reason": "Noisy"}).json()
    assert (body["status"], body["disabled_reason"]) == ("disabled", "Noisy")


def test_an_expansion_play_ranks_its_items_by_expected_gain() -> None:
    play = PlayFactory.create(
        item_template={"title": "Grow {account}", "kind": "expansion"},
    )
    account = AccountFactory.create(segment="enterprise")
    OpportunityFactory.create(account=account, kind="expansion", status="open", amount=10_000)
    run(play)
    (item,) = open_items(play)
    # Unscored: the open expansion amount x 0.5.
    assert (item.priority, item.priority_basis) == (Decimal(5000), "expected_gain")


def test_a_play_that_sends_webhooks_announces_each_run_that_created_items(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from apps.squads.events import PlayFired

    published = record_published_events(monkeypatch)
    play = PlayFactory.create(send_webhook=True)
    account = AccountFactory.create(segment="enterprise")
    created = run(play).created_item_ids
    run(play)  # updates the open item: nothing new to announce
    fired = [event for event in published if isinstance(event, PlayFired)]
    assert [(e.play_id, e.account_ids, e.work_item_ids) for e in fired] == [
        (play.pk, [account.pk], created)
    ]
    assert "integrations.webhooks_dispatch" in events.subscribers(PlayFired)


def test_event_runs_that_match_nothing_leave_no_audit_row_but_schedules_do() -> None:
    play = PlayFactory.create()
    smb = AccountFactory.create(segment="smb")
    plays_evaluate_event(event="accounts.touched", payload={"account_ids": [smb.pk]})
    assert not PlayRun.objects.filter(play=play).exists()
    plays_run_scheduled()
    assert PlayRun.objects.filter(play=play, cause="schedule").count() == 1
