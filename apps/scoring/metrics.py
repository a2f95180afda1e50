# ruff: noqa: S608  (SQL built from table names, validated numbers and %(params)s only)
"""The metric catalogue and the set-based SQL that turns a profile into scores.

A component is `{"key", "metric", "weight", "window_days"?, "events"?, "kinds"?, "mapping"}`;
`mapping` is `{"kind": "thresholds", "points": [[raw, score], ...]}` (piecewise linear between
points whose raw values increase, flat beyond the ends) or `{"kind": "percentile",
"higher_is_better": bool}` (rank within the account's segment, 0..100). Component scores and
the health score run from 0 to 100, 100 healthiest. A component whose input is missing (no
survey, no subscription...) gets no score and its weight is spread over the others.

Every metric is computed "as of" a moment from the usage rollup and the account record, for
all accounts of a target table at once: one statement per profile, never a loop per account.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from apps.accounts.models import (
    Account,
    Milestone,
    OnboardingPlan,
    Subscription,
    SurveyResponse,
    Ticket,
    UsageDay,
    UsageEvent,
)


@dataclass(frozen=True)
class Metric:
    label: str
    unit: str
    description: str
    uses_window: bool = True
    default_window: int = 30
    uses_events: bool = False


METRICS: dict[str, Metric] = {
    "event_count": Metric(
        "usage frequency", "events", "Events (all or the named ones) in the window.", True, 30, True
    ),
    "active_days": Metric(
        "active days", "days", "Days with at least one (named) event in the window.", True, 30, True
    ),
    "breadth": Metric("breadth", "event names", "Distinct event names used in the window."),
    "usage_trend": Metric(
        "usage trend",
        "%",
        "Change of (named) events in the window vs the window before, in percent; missing "
        "when the previous window had none.",
        True,
        30,
        True,
    ),
    "days_since_activity": Metric(
        "recency",
        "days",
        "Days since the last (named) event; the window's length when none in the window.",
        True,
        90,
        True,
    ),
    "seat_utilisation": Metric(
        "seat utilisation",
        "%",
        "Active contacts (contacts with at least one usage event in the window) per seat bought "
        "(subscription quantity in force), in percent; missing without a subscription in force.",
        True,
        30,
    ),
    "support_load": Metric(
        "support load",
        "points",
        "Tickets open at the time, weighted by priority (urgent 5, high 3, normal 1, low 0.5).",
        False,
    ),
    "sentiment": Metric(
        "sentiment",
        "0..100",
        "The latest survey answer in the window (NPS, CSAT or CES, or the named kinds), "
        "normalised to 0..100 (NPS x 10, CSAT (s-1)/4, CES (s-1)/6; higher is better); "
        "missing without one.",
        True,
        180,
    ),
    "onboarding_progress": Metric(
        "onboarding progress",
        "%",
        "Milestones completed out of all milestones of plans started; missing without a plan.",
        False,
    ),
    "milestones_overdue": Metric(
        "overdue milestones",
        "milestones",
        "Milestones past their due date and not completed; missing without a plan.",
        False,
    ),
    "days_to_renewal": Metric(
        "days to renewal",
        "days",
        "Days until the soonest end of a subscription term in force; missing when none ends.",
        False,
    ),
    "payment_past_due": Metric(
        "payment state",
        "0/1",
        "1 when a subscription term in force is past due, else 0; missing without one.",
        False,
    ),
}

MAX_WINDOW_DAYS = 365
PRIORITY_WEIGHTS = {"urgent": 5.0, "high": 3.0, "normal": 1.0, "low": 0.5}


def _table(model: Any) -> str:
    return str(model._meta.db_table)


# --- validation ---------------------------------------------------------------------------


def components_check(components: Any) -> dict[str, list[str]]:
    """Errors per field path ("components[2].mapping.points") of a component list; {} if valid."""
    errors: dict[str, list[str]] = {}

    def add(path: str, message: str) -> None:
        errors.setdefault(path, []).append(message)

    if not isinstance(components, list) or not components:
        add("components", "A non-empty list of components.")
        return errors
    keys: set[str] = set()
    for index, component in enumerate(components):
        at = f"components[{index}]"
        if not isinstance(component, Mapping):
            add(at, "An object.")
            continue
        unknown = set(component) - {
            "key",
            "metric",
            "weight",
            "window_days",
            "events",
            "kinds",
            "mapping",
        }
        for name in sorted(unknown):
            add(f"{at}.{name}", "Unknown field.")
        metric_name = component.get("metric")
        metric = METRICS.get(metric_name) if isinstance(metric_name, str) else None
        if metric is None:
            add(f"{at}.metric", "One of: " + ", ".join(METRICS) + ".")
        key = component.get("key", metric_name)
        if not isinstance(key, str) or not key.strip() or len(key) > 50:
            add(f"{at}.key", "A name of 1 to 50 characters.")
        elif key in keys:
            add(f"{at}.key", f"Used twice: {key!r}.")
        else:
            keys.add(key)
        weight = component.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
            add(f"{at}.weight", "A positive number.")
        elif weight > 1000:
            add(f"{at}.weight", "At most 1000.")
        if "window_days" in component:
            window = component["window_days"]
            if metric is not None and not metric.uses_window:
                add(f"{at}.window_days", f"{metric_name} has no window.")
            elif (
                isinstance(window, bool)
                or not isinstance(window, int)
                or not 1 <= window <= MAX_WINDOW_DAYS
            ):
                add(f"{at}.window_days", f"Whole days, 1 to {MAX_WINDOW_DAYS}.")
        if "events" in component:
            events = component["events"]
            if metric is not None and not metric.uses_events:
                add(f"{at}.events", f"{metric_name} does not filter by event name.")
            elif (
                not isinstance(events, list)
                or not events
                or not all(isinstance(name, str) and 0 < len(name) <= 200 for name in events)
            ):
                add(f"{at}.events", "A non-empty list of event names.")
        if "kinds" in component:
            kinds = component["kinds"]
            if metric_name != "sentiment":
                add(f"{at}.kinds", "Only sentiment filters by survey kind.")
            elif (
                not isinstance(kinds, list)
                or not kinds
                or not set(kinds) <= set(SurveyResponse.SCORE_RANGES)
            ):
                add(f"{at}.kinds", "A non-empty list of: nps, csat, ces.")
        _mapping_check(component.get("mapping"), f"{at}.mapping", add)
    return errors


def _mapping_check(mapping: Any, at: str, add: Any) -> None:
    if not isinstance(mapping, Mapping):
        add(
            at,
            'An object: {"kind": "thresholds", "points": [[raw, score], ...]} or '
            '{"kind": "percentile"}.',
        )
        return
    kind = mapping.get("kind")
    if kind == "percentile":
        extra = set(mapping) - {"kind", "higher_is_better"}
        if extra:
            add(at, f"Unknown field {sorted(extra)[0]!r}.")
        if not isinstance(mapping.get("higher_is_better", True), bool):
            add(f"{at}.higher_is_better", "true or false.")
        return
    if kind != "thresholds":
        add(f"{at}.kind", "thresholds or percentile.")
        return
    extra = set(mapping) - {"kind", "points"}
    if extra:
        add(at, f"Unknown field {sorted(extra)[0]!r}.")
    points = mapping.get("points")
    if not isinstance(points, list) or len(points) < 2:
        add(f"{at}.points", "At least two [raw value, score] pairs.")
        return
    previous: float | None = None
    for index, point in enumerate(points):
        if (
            not isinstance(point, list)
            or len(point) != 2
            or not all(isinstance(n, int | float) and not isinstance(n, bool) for n in point)
        ):
            add(f"{at}.points[{index}]", "A [raw value, score] pair of numbers.")
            return
        raw, score = float(point[0]), float(point[1])
        if not (math.isfinite(raw) and math.isfinite(score)):
            add(f"{at}.points[{index}]", "Finite numbers only.")
            return
        if not 0 <= score <= 100:
            add(f"{at}.points[{index}]", "The score must be between 0 and 100.")
        if abs(raw) > 1e12:
            add(f"{at}.points[{index}]", "The raw value is out of range.")
        if previous is not None and raw <= previous:
            add(f"{at}.points", "Thresholds must be in increasing order of raw value.")
            return
        previous = raw


def components_normalise(components: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validated components with their defaults filled in (key, window)."""
    normalised = []
    for component in components:
        metric = METRICS[component["metric"]]
        item: dict[str, Any] = {
            "key": component.get("key") or component["metric"],
            "metric": component["metric"],
            "weight": float(component["weight"]),
            "mapping": dict(component["mapping"]),
        }
        if metric.uses_window:
            item["window_days"] = int(component.get("window_days", metric.default_window))
        for optional in ("events", "kinds"):
            if optional in component:
                item[optional] = list(component[optional])
        normalised.append(item)
    return normalised


def _thresholds(component: Mapping[str, Any]) -> list[tuple[float, float]]:
    return [(float(raw), float(score)) for raw, score in component["mapping"]["points"]]


DEFAULT_PROFILE_NAME = "Default health"


def default_components() -> list[dict[str, Any]]:
    """A sensible profile for a new tenant: mostly usage, with support, sentiment, commerce."""

    def points(*pairs: tuple[float, float]) -> dict[str, Any]:
        return {"kind": "thresholds", "points": [list(pair) for pair in pairs]}

    return components_normalise(
        [
            {
                "metric": "active_days",
                "weight": 25,
                "window_days": 30,
                "mapping": points((0, 0), (4, 40), (10, 75), (18, 100)),
            },
            {
                "metric": "event_count",
                "weight": 5,
                "window_days": 30,
                "mapping": points((0, 0), (10, 40), (60, 80), (200, 100)),
            },
            {
                "metric": "breadth",
                "weight": 10,
                "window_days": 30,
                "mapping": points((0, 0), (2, 40), (4, 75), (7, 100)),
            },
            {
                "metric": "usage_trend",
                "weight": 15,
                "window_days": 30,
                "mapping": points((-60, 0), (-25, 40), (0, 70), (25, 100)),
            },
            {
                "metric": "days_since_activity",
                "weight": 10,
                "window_days": 90,
                "mapping": points((0, 100), (7, 80), (30, 20), (60, 0)),
            },
            {
                "metric": "support_load",
                "weight": 10,
                "mapping": points((0, 100), (2, 70), (6, 30), (12, 0)),
            },
            {
                "metric": "sentiment",
                "weight": 10,
                "window_days": 180,
                "mapping": points((0, 0), (50, 40), (70, 70), (90, 100)),
            },
            {
                "metric": "onboarding_progress",
                "weight": 5,
                "mapping": points((0, 0), (50, 50), (100, 100)),
            },
            {
                "metric": "seat_utilisation",
                "weight": 5,
                "mapping": points((0, 0), (50, 50), (90, 100)),
            },
            {
                "metric": "payment_past_due",
                "weight": 5,
                "mapping": points((0, 100), (1, 0)),
            },
        ]
    )


# --- SQL ----------------------------------------------------------------------------------


def _number(value: float) -> str:
    """A validated float as an SQL literal (floats cannot carry SQL; keeps plans generic)."""
    return f"{float(value)!r}::float8"


def _mapped(component: Mapping[str, Any], raw: str) -> str:
    mapping = component["mapping"]
    if mapping["kind"] == "percentile":
        direction = "ASC" if mapping.get("higher_is_better", True) else "DESC"
        return (
            f"CASE WHEN {raw} IS NULL THEN NULL ELSE 100 * percent_rank() OVER "
            f"(PARTITION BY segment, {raw} IS NULL ORDER BY {raw} {direction}) END"
        )
    points = _thresholds(component)
    (first_raw, first_score), (last_raw, last_score) = points[0], points[-1]
    cases = [
        f"WHEN {raw} IS NULL THEN NULL",
        f"WHEN {raw} <= {_number(first_raw)} THEN {_number(first_score)}",
    ]
    for (x0, y0), (x1, y1) in pairwise(points):
        slope = (y1 - y0) / (x1 - x0)
        cases.append(
            f"WHEN {raw} <= {_number(x1)} THEN {_number(y0)} + ({raw} - {_number(x0)}) * "
            f"{_number(slope)}"
        )
    del last_raw
    return f"CASE {' '.join(cases)} ELSE {_number(last_score)} END"


@dataclass
class ScoreSql:
    sql: str
    params: dict[str, Any]


def score_sql(
    *,
    components: Sequence[Mapping[str, Any]],
    target: str,
    usage_of_all: bool = False,
    few: bool = False,
) -> ScoreSql:
    """SELECT account_id, score, band, vals for every account of `target` (account_id, segment).

    Parameters: %(as_of)s (timestamptz) and %(day)s (its UTC date). Rows whose every input is
    missing get a NULL score. `usage_of_all` aggregates the rollup of every account and leaves
    the choice to the join with `target` (cheaper when `target` holds nearly all of them);
    `few` (a pass over a small part of the tenant) reads raw events account by account through
    their (account, occurred_at) index.
    """
    params: dict[str, Any] = {}
    usage_aggs: list[str] = []
    raws: list[str] = []
    joins: dict[str, str] = {}
    lookback = 1

    def events_filter(index: int, component: Mapping[str, Any]) -> str:
        if not component.get("events"):
            return ""
        params[f"events_{index}"] = list(component["events"])
        return f" AND u.name = ANY(%(events_{index})s)"

    usage = _table(UsageDay)
    # The subscription terms in force: seats, days to renewal and payment state in one read.
    terms_join = (
        "LEFT JOIN (SELECT s.account_id, sum(s.quantity) AS seats, "
        "min(s.period_end) - %(day)s AS to_renewal, bool_or(s.status = 'past_due') AS past_due "
        f"FROM {_table(Subscription)} s JOIN {target} t ON t.account_id = s.account_id "
        "WHERE s.status IN ('active', 'past_due') AND s.period_start <= %(day)s AND "
        "(s.period_end IS NULL OR s.period_end > %(day)s) GROUP BY s.account_id) terms "
        "ON terms.account_id = t.account_id"
    )
    for index, component in enumerate(components):
        metric = component["metric"]
        window = int(component.get("window_days", METRICS[metric].default_window))
        in_window = f"u.day > %(day)s - {window}"
        if metric == "event_count":
            ev = events_filter(index, component)
            usage_aggs.append(f"sum(u.event_count) FILTER (WHERE {in_window}{ev}) AS u{index}")
            raws.append(f"COALESCE(usage.u{index}, 0)::float8")
            lookback = max(lookback, window)
        elif metric == "active_days":
            ev = events_filter(index, component)
            usage_aggs.append(
                f"count(DISTINCT u.day) FILTER (WHERE {in_window} AND u.event_count > 0{ev})"
                f" AS u{index}"
            )
            raws.append(f"COALESCE(usage.u{index}, 0)::float8")
            lookback = max(lookback, window)
        elif metric == "breadth":
            usage_aggs.append(
                f"count(DISTINCT u.name) FILTER (WHERE {in_window} AND u.event_count > 0)"
                f" AS u{index}"
            )
            raws.append(f"COALESCE(usage.u{index}, 0)::float8")
            lookback = max(lookback, window)
        elif metric == "usage_trend":
            ev = events_filter(index, component)
            usage_aggs.append(f"sum(u.event_count) FILTER (WHERE {in_window}{ev}) AS u{index}")
            usage_aggs.append(
                f"sum(u.event_count) FILTER (WHERE u.day <= %(day)s - {window} AND "
                f"u.day > %(day)s - {2 * window}{ev}) AS p{index}"
            )
            raws.append(
                f"CASE WHEN COALESCE(usage.p{index}, 0) = 0 THEN NULL ELSE 100.0 * "
                f"(COALESCE(usage.u{index}, 0) - usage.p{index}) / usage.p{index} END::float8"
            )
            lookback = max(lookback, 2 * window)
        elif metric == "days_since_activity":
            ev = events_filter(index, component)
            usage_aggs.append(
                f"max(u.day) FILTER (WHERE {in_window} AND u.event_count > 0{ev}) AS u{index}"
            )
            raws.append(f"COALESCE(%(day)s - usage.u{index}, {window})::float8")
            lookback = max(lookback, window)
        elif metric == "seat_utilisation":
            joins["terms"] = terms_join
            # The rollup has no contact dimension: active contacts are the distinct contacts
            # of the raw events in the window, read through the (account, occurred_at) index
            # for a few accounts or the occurred_at BRIN for all of them. This is the one
            # metric whose cost grows with the events in its window (not with all history).
            in_window = (
                "e.contact_id IS NOT NULL AND e.occurred_at <= %(as_of)s AND "
                f"e.occurred_at > %(as_of)s - interval '{window} days'"
            )
            if few:
                joins[f"people{index}"] = (
                    "LEFT JOIN LATERAL (SELECT count(DISTINCT e.contact_id) AS people FROM "
                    f"{_table(UsageEvent)} e WHERE e.account_id = t.account_id AND {in_window}) "
                    f"people{index} ON true"
                )
            else:
                joins[f"people{index}"] = (
                    "LEFT JOIN (SELECT e.account_id, count(DISTINCT e.contact_id) AS people "
                    f"FROM {_table(UsageEvent)} e JOIN {target} t ON t.account_id = e.account_id "
                    f"WHERE {in_window} GROUP BY e.account_id) "
                    f"people{index} ON people{index}.account_id = t.account_id"
                )
            raws.append(
                "CASE WHEN COALESCE(terms.seats, 0) = 0 THEN NULL "
                f"ELSE 100.0 * COALESCE(people{index}.people, 0) / terms.seats END::float8"
            )
        elif metric == "support_load":
            weights = " ".join(
                f"WHEN '{name}' THEN {_number(weight)}" for name, weight in PRIORITY_WEIGHTS.items()
            )
            joins["tickets"] = (
                f"LEFT JOIN (SELECT k.account_id, sum(CASE k.priority {weights} ELSE 1 END) "
                f"AS load FROM {_table(Ticket)} k JOIN {target} t ON t.account_id = k.account_id "
                "WHERE k.opened_at <= %(as_of)s AND (k.closed_at > %(as_of)s OR "
                "(k.closed_at IS NULL AND k.status IN ('open', 'pending'))) "
                "GROUP BY k.account_id) tickets ON tickets.account_id = t.account_id"
            )
            raws.append("COALESCE(tickets.load, 0)::float8")
        elif metric == "sentiment":
            kinds = component.get("kinds") or list(SurveyResponse.SCORE_RANGES)
            params[f"kinds_{index}"] = list(kinds)
            joins[f"survey{index}"] = (
                "LEFT JOIN (SELECT DISTINCT ON (r.account_id) r.account_id, CASE r.kind "
                "WHEN 'nps' THEN r.score * 10.0 WHEN 'csat' THEN (r.score - 1) * 25.0 "
                "ELSE (r.score - 1) * 100.0 / 6 END AS value "
                f"FROM {_table(SurveyResponse)} r JOIN {target} t ON t.account_id = r.account_id "
                f"WHERE r.kind = ANY(%(kinds_{index})s) AND r.responded_at <= %(as_of)s AND "
                f"r.responded_at > %(as_of)s - interval '{window} days' "
                f"ORDER BY r.account_id, r.responded_at DESC, r.id DESC) survey{index} "
                f"ON survey{index}.account_id = t.account_id"
            )
            raws.append(f"survey{index}.value::float8")
        elif metric in ("onboarding_progress", "milestones_overdue"):
            joins["onboarding"] = (
                "LEFT JOIN (SELECT p.account_id, count(m.id) AS total, "
                "count(m.id) FILTER (WHERE m.completed_on <= %(day)s) AS done, "
                "count(m.id) FILTER (WHERE m.due_on < %(day)s AND "
                "(m.completed_on IS NULL OR m.completed_on > %(day)s)) AS overdue "
                f"FROM {_table(OnboardingPlan)} p JOIN {target} t ON t.account_id = p.account_id "
                f"LEFT JOIN {_table(Milestone)} m ON m.plan_id = p.id "
                "WHERE p.started_on <= %(day)s GROUP BY p.account_id) onboarding "
                "ON onboarding.account_id = t.account_id"
            )
            if metric == "onboarding_progress":
                raws.append(
                    "CASE WHEN COALESCE(onboarding.total, 0) = 0 THEN NULL "
                    "ELSE 100.0 * onboarding.done / onboarding.total END::float8"
                )
            else:
                raws.append("onboarding.overdue::float8")
        elif metric in ("days_to_renewal", "payment_past_due"):
            joins["terms"] = terms_join
            if metric == "days_to_renewal":
                raws.append("terms.to_renewal::float8")
            else:
                raws.append(
                    "CASE WHEN terms.past_due IS NULL THEN NULL "
                    "WHEN terms.past_due THEN 1 ELSE 0 END::float8"
                )
        else:  # pragma: no cover - components are validated against METRICS
            raise ValueError(f"unknown metric {metric!r}")

    usage_cte = ""
    if usage_aggs:
        usage_cte = (
            f"usage AS (SELECT u.account_id, {', '.join(usage_aggs)} FROM {usage} u "
            f"{'' if usage_of_all else f'JOIN {target} t ON t.account_id = u.account_id '}"
            f"WHERE u.day > %(day)s - {lookback} AND u.day <= %(day)s GROUP BY u.account_id), "
        )
        joins = {"usage": "LEFT JOIN usage ON usage.account_id = t.account_id", **joins}
    raw_columns = ", ".join(f"{raw} AS r{index}" for index, raw in enumerate(raws))
    mapped_columns = ", ".join(
        f"({_mapped(component, f'r{index}')})::float8 AS s{index}"
        for index, component in enumerate(components)
    )
    component_weights = [float(component["weight"]) for component in components]
    total = " + ".join(
        f"CASE WHEN s{index} IS NULL THEN 0 ELSE {_number(weight)} END"
        for index, weight in enumerate(component_weights)
    )
    weighted = " + ".join(
        f"COALESCE(s{index} * {_number(weight)}, 0)"
        for index, weight in enumerate(component_weights)
    )
    triples = ", ".join(
        f"r{index}, round(s{index}::numeric, 2)::float8, CASE WHEN s{index} IS NULL THEN 0 "
        f"ELSE round((100 * {_number(weight)} / NULLIF(total, 0))::numeric, 2)::float8 END"
        for index, weight in enumerate(component_weights)
    )
    sql = (
        f"WITH {usage_cte}"
        # Materialized: inlined, each layer would re-evaluate the one below once per reference.
        f"raw AS MATERIALIZED (SELECT t.account_id, t.segment, {raw_columns} FROM {target} t "
        f"{' '.join(joins.values())}), "
        f"mapped AS MATERIALIZED (SELECT raw.*, {mapped_columns} FROM raw), "
        f"totals AS MATERIALIZED (SELECT mapped.*, ({total}) AS total, ({weighted}) AS weighted "
        "FROM mapped), "
        "scored AS (SELECT totals.*, round((weighted / NULLIF(total, 0))::numeric, 1)::float8 "
        "AS score FROM totals) "
        f"SELECT account_id, score, CASE WHEN score >= 70 THEN 'good' WHEN score >= 40 "
        f"THEN 'average' ELSE 'poor' END AS band, ARRAY[{triples}]::float8[] AS vals FROM scored"
    )
    return ScoreSql(sql=sql, params=params)


ACCOUNT_TABLE = Account._meta.db_table
