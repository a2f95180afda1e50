"""Play triggers: which accounts of an audience a trigger matches, now or on an event.

Score-based triggers are small pure functions over `CurrentHealth` (band changed, threshold
crossed, expansion signal); the rest are set-based queries over the account record (usage
from the daily rollup `UsageDay`, never raw events). Each matcher takes the audience as an
Account queryset and returns the matching account ids.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet, Sum
from django.utils import timezone

from apps.accounts.models import (
    Account,
    LifecycleStage,
    Milestone,
    Opportunity,
    Subscription,
    SurveyResponse,
    UsageDay,
)
from apps.scoring.selectors import CurrentHealth, account_current_health
from apps.squads.models import TriggerKind

BANDS = ("poor", "average", "good")
GOOD_FROM = 70.0
AVERAGE_FROM = 40.0


# --- pure functions over scores ------------------------------------------------------------


def band_of(score: float) -> str:
    """Bands: good >= 70, average 40..69, poor < 40 (100 is healthiest)."""
    if score >= GOOD_FROM:
        return "good"
    if score >= AVERAGE_FROM:
        return "average"
    return "poor"


def band_changed(health: CurrentHealth, *, to_band: str, from_band: str | None = None) -> bool:
    """The account's band just became `to_band` (from `from_band`, if given)."""
    previous = band_of(health.previous_score) if health.previous_score is not None else None
    if health.band != to_band or previous == health.band:
        return False
    return from_band is None or previous == from_band


def threshold_crossed(health: CurrentHealth, *, threshold: float, direction: str) -> bool:
    """The score went below (or above) the threshold with this recompute; a first score on
    the far side counts as a crossing."""
    previous = health.previous_score
    if direction == "below":
        return health.score < threshold and (previous is None or previous >= threshold)
    return health.score >= threshold and (previous is None or previous < threshold)


def expansion_signal(
    health: CurrentHealth | None,
    *,
    events_in_window: int,
    has_open_expansion: bool,
    min_score: float,
    min_events: int,
) -> bool:
    """Good health + heavy usage + an open expansion opportunity."""
    return (
        health is not None
        and health.score >= min_score
        and events_in_window >= min_events
        and has_open_expansion
    )


# --- configuration ----------------------------------------------------------------------------

# name -> (required?, check, what it must be)
Check = tuple[bool, Callable[[Any], bool], str]


def _int_in(low: int, high: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _one_of(choices: Collection[str]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, str) and v in choices


def _text(v: Any) -> bool:
    return isinstance(v, str) and 0 < len(v) <= 200


CONFIG: dict[str, dict[str, Check]] = {
    TriggerKind.HEALTH_BAND_CHANGED: {
        "to_band": (True, _one_of(BANDS), "poor, average or good"),
        "from_band": (False, _one_of(BANDS), "poor, average or good"),
    },
    TriggerKind.SCORE_THRESHOLD: {
        "threshold": (True, _int_in(0, 100), "an integer 0..100"),
        "direction": (True, _one_of(("below", "above")), "below or above"),
    },
    TriggerKind.USAGE_DROP: {
        "percent": (True, _int_in(1, 100), "an integer 1..100"),
        "window_days": (True, _int_in(1, 90), "an integer 1..90"),
        "event_name": (False, _text, "an event name"),
    },
    TriggerKind.RENEWAL_WITHIN: {"days": (True, _int_in(1, 365), "an integer 1..365")},
    TriggerKind.MILESTONE_OVERDUE: {"grace_days": (False, _int_in(0, 90), "an integer 0..90")},
    TriggerKind.SURVEY_BELOW: {
        "kind": (True, _one_of(SurveyResponse.Kind.values), "nps, csat or ces"),
        "threshold": (True, _int_in(0, 11), "an integer 0..11"),
        "moment": (False, _text, "a moment that matters, e.g. onboarding"),
        "within_days": (False, _int_in(1, 365), "an integer 1..365"),
    },
    TriggerKind.OPPORTUNITY_WON: {
        "kind": (False, _one_of(Opportunity.Kind.values), "new, expansion or renewal"),
        "within_days": (False, _int_in(1, 90), "an integer 1..90"),
    },
    TriggerKind.EXPANSION_SIGNAL: {
        "min_score": (False, _int_in(0, 100), "an integer 0..100"),
        "min_events": (False, _int_in(1, 10_000_000), "a positive integer"),
        "window_days": (False, _int_in(1, 90), "an integer 1..90"),
    },
    TriggerKind.SEGMENT_ENTERED: {"segment": (True, _text, "a segment")},
    TriggerKind.LIFECYCLE_STAGE_ENTERED: {
        "stage": (True, _one_of(LifecycleStage.values), "a lifecycle stage")
    },
}


def trigger_config_errors(trigger: str, config: Mapping[str, Any]) -> list[str]:
    checks = CONFIG[trigger]
    errors = [f"Unknown key {key!r} for {trigger}." for key in config if key not in checks]
    for key, (required, check, expected) in checks.items():
        if key not in config:
            if required:
                errors.append(f"{key}: required ({expected}).")
        elif not check(config[key]):
            errors.append(f"{key}: must be {expected}.")
    return errors


# --- which events and schedules evaluate which triggers --------------------------------------

EVENT_TRIGGERS: dict[str, tuple[str, ...]] = {
    "health_band.changed": (TriggerKind.HEALTH_BAND_CHANGED,),
    "health_scores.changed": (TriggerKind.SCORE_THRESHOLD, TriggerKind.EXPANSION_SIGNAL),
    "accounts.touched": (
        TriggerKind.USAGE_DROP,
        TriggerKind.MILESTONE_OVERDUE,
        TriggerKind.SURVEY_BELOW,
        TriggerKind.OPPORTUNITY_WON,
        TriggerKind.RENEWAL_WITHIN,
        TriggerKind.EXPANSION_SIGNAL,
        TriggerKind.SEGMENT_ENTERED,
    ),
    "lifecycle_stage.changed": (TriggerKind.LIFECYCLE_STAGE_ENTERED,),
}
# Date triggers run daily over their whole audience, and so do the score triggers on the
# current scores (a crossing whose event was lost is still seen; one older than the last day
# is not seen again, see match_score_threshold). A band change stays event-only.
SCHEDULED_TRIGGERS = (
    TriggerKind.SCORE_THRESHOLD,
    TriggerKind.USAGE_DROP,
    TriggerKind.RENEWAL_WITHIN,
    TriggerKind.MILESTONE_OVERDUE,
    TriggerKind.SURVEY_BELOW,
    TriggerKind.OPPORTUNITY_WON,
    TriggerKind.EXPANSION_SIGNAL,
    TriggerKind.SEGMENT_ENTERED,
    TriggerKind.LIFECYCLE_STAGE_ENTERED,
)


# --- matchers --------------------------------------------------------------------------------


def _ids(queryset: QuerySet[Any]) -> set[int]:
    return set(queryset.values_list("pk", flat=True))


def _usage_in_window(
    audience: QuerySet[Account], *, start: dt.date, end: dt.date, event_name: str | None
) -> dict[int, int]:
    days = UsageDay.objects.filter(account__in=audience, day__gte=start, day__lt=end)
    if event_name:
        days = days.filter(name=event_name)
    rows = days.values("account_id").annotate(total=Sum("event_count"))
    return {row["account_id"]: int(row["total"]) for row in rows}


def match_health_band_changed(
    audience: QuerySet[Account],
    config: Mapping[str, Any],
    payload: Mapping[str, Any],
    today: dt.date,
) -> set[int]:
    healths = (
        _healths_from_payload(payload)
        or account_current_health(account_ids=_ids(audience)).values()
    )
    wanted = _ids(audience.filter(pk__in=[h.account_id for h in healths]))
    return {
        h.account_id
        for h in healths
        if h.account_id in wanted
        and band_changed(h, to_band=config["to_band"], from_band=config.get("from_band"))
    }


def _healths_from_payload(payload: Mapping[str, Any]) -> list[CurrentHealth]:
    """A health_band.changed event carries the scores it is about: no need to read them."""
    if "band" not in payload or "account_id" not in payload:
        return []
    return [
        CurrentHealth(
            account_id=int(payload["account_id"]),
            score=float(payload["score"]),
            band=str(payload["band"]),
            previous_score=payload.get("previous_score"),
            as_of=timezone.now(),
            churn_probability=None,
        )
    ]


def match_score_threshold(
    audience: QuerySet[Account],
    config: Mapping[str, Any],
    payload: Mapping[str, Any],
    today: dt.date,
) -> set[int]:
    """On a score event, the crossings it reports. Otherwise (the daily pass, a preview) the
    crossings of the last day by the current scores: the score replaced was still current at
    or after the start of yesterday, so a daily pass sees each crossing once (first scores,
    which replaced nothing, are left to the event)."""
    healths = account_current_health(account_ids=_ids(audience))
    since = None
    if "account_ids" not in payload:
        since = dt.datetime.combine(today - dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    return {
        account_id
        for account_id, health in healths.items()
        if threshold_crossed(
            health, threshold=float(config["threshold"]), direction=config["direction"]
        )
        and (
            since is None or (health.previous_as_of is not None and health.previous_as_of >= since)
        )
    }


def match_usage_drop(
    audience: QuerySet[Account],
    config: Mapping[str, Any],
    payload: Mapping[str, Any],
    today: dt.date,
) -> set[int]:
    """Usage in the last window (up to yesterday) fell by `percent` against the window before."""
    window = dt.timedelta(days=int(config["window_days"]))
    name = config.get("event_name")
    recent = _usage_in_window(audience, start=today - window, end=today, event_name=name)
    before = _usage_in_window(
        audience, start=today - 2 * window, end=today - window, event_name=name
    )
    keep = 1 - int(config["percent"]) / 100
    return {
        account_id
        for account_id, previous in before.items()
        if previous > 0 and recent.get(account_id, 0) <= previous * keep
    }


def match_renewal_within(
    audience: QuerySet[Account],
    config: Mapping[str, Any],
    payload: Mapping[str, Any],
    today: dt.date,
) -> set[int]:
    """A term in force ends within `days` and no later term is booked yet."""
    horizon = today + dt.timedelta(days=int(config["days"]))
    renewed = Subscription.objects.filter(
        account_id=OuterRef("account_id"), period_start__gte=OuterRef("period_end")
    )
    ending = Subscription.objects.filter(
        Subscription.in_force_on(today),
        period_end__gte=today,
        period_end__lte=horizon,
        account__in=audience,
    ).filter(~Exists(renewed))
    return set(ending.values_list("account_id", flat=True))


def match_milestone_overdue(
    audience: QuerySet[Account],
    config: Mapping[str, Any],
    payload: Mapping[str, Any],
    today: dt.date,
) -> set[int]:
    cutoff = today - dt.timedelta(days=int(config.get("grace_days", 0)))
    overdue = Milestone.objects.filter(
        completed_on__isnull=True, due_on__lt=cutoff, plan__account__in=audience
    )
    return set(overdue.values_list("plan__account_id", flat=True))


def match_survey_below(
    audience: QuerySet[Account],
    config: Mapping[str, Any],
    payload: Mapping[str, Any],
    today: dt.date,
) -> set[int]:
    since = today - dt.timedelta(days=int(config.get("within_days", 30)))
    responses = SurveyResponse.objects.filter(
        account__in=audience,
        kind=config["kind"],
        score__lt=int(config["threshold"]),
        responded_at__date__gte=since,
    )
    if config.get("moment"):
        responses = responses.filter(moment=config["moment"])
    return set(responses.values_list("account_id", flat=True))


def match_opportunity_won(
    audience: QuerySet[Account],
    config: Mapping[str, Any],
    payload: Mapping[str, Any],
    today: dt.date,
) -> set[int]:
    since = today - dt.timedelta(days=int(config.get("within_days", 7)))
    won = Opportunity.objects.filter(
        account__in=audience, status=Opportunity.Status.WON, close_date__gte=since
    )
    if config.get("kind"):
        won = won.filter(kind=config["kind"])
    return set(won.values_list("account_id", flat=True))


def match_expansion_signal(
    audience: QuerySet[Account],
    config: Mapping[str, Any],
    payload: Mapping[str, Any],
    today: dt.date,
) -> set[int]:
    with_open = audience.filter(
        Exists(
            Opportunity.objects.filter(
                account_id=OuterRef("pk"),
                kind=Opportunity.Kind.EXPANSION,
                status=Opportunity.Status.OPEN,
            )
        )
    )
    candidates = _ids(with_open)
    if not candidates:
        return set()
    window = dt.timedelta(days=int(config.get("window_days", 30)))
    usage = _usage_in_window(
        with_open, start=today - window, end=today + dt.timedelta(days=1), event_name=None
    )
    healths = account_current_health(account_ids=candidates)
    return {
        account_id
        for account_id in candidates
        if expansion_signal(
            healths.get(account_id),
            events_in_window=usage.get(account_id, 0),
            has_open_expansion=True,
            min_score=float(config.get("min_score", GOOD_FROM)),
            min_events=int(config.get("min_events", 100)),
        )
    }


def match_segment_entered(
    audience: QuerySet[Account],
    config: Mapping[str, Any],
    payload: Mapping[str, Any],
    today: dt.date,
) -> set[int]:
    return _ids(audience.filter(segment=config["segment"]))


def match_lifecycle_stage_entered(
    audience: QuerySet[Account],
    config: Mapping[str, Any],
    payload: Mapping[str, Any],
    today: dt.date,
) -> set[int]:
    if "stage" in payload and payload["stage"] != config["stage"]:
        return set()
    return _ids(audience.filter(lifecycle_stage=config["stage"]))


Matcher = Callable[[QuerySet[Account], Mapping[str, Any], Mapping[str, Any], dt.date], set[int]]

MATCHERS: dict[str, Matcher] = {
    TriggerKind.HEALTH_BAND_CHANGED: match_health_band_changed,
    TriggerKind.SCORE_THRESHOLD: match_score_threshold,
    TriggerKind.USAGE_DROP: match_usage_drop,
    TriggerKind.RENEWAL_WITHIN: match_renewal_within,
    TriggerKind.MILESTONE_OVERDUE: match_milestone_overdue,
    TriggerKind.SURVEY_BELOW: match_survey_below,
    TriggerKind.OPPORTUNITY_WON: match_opportunity_won,
    TriggerKind.EXPANSION_SIGNAL: match_expansion_signal,
    TriggerKind.SEGMENT_ENTERED: match_segment_entered,
    TriggerKind.LIFECYCLE_STAGE_ENTERED: match_lifecycle_stage_entered,
}


def matching_account_ids(
    *,
    trigger: str,
    config: Mapping[str, Any],
    audience: QuerySet[Account],
    payload: Mapping[str, Any] | None = None,
    today: dt.date | None = None,
) -> set[int]:
    return MATCHERS[trigger](audience, config, payload or {}, today or timezone.now().date())
