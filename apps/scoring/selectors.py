"""Reads of scores for other apps (squads' triggers, priorities and scorecards, pages)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, Max, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.accounts.models import Account
from apps.scoring.metrics import METRICS
from apps.scoring.models import (
    AccountValue,
    AccountValueSnapshot,
    Band,
    Calibration,
    HealthProfile,
    HealthProfileVersion,
    HealthScore,
    HealthSnapshot,
)
from apps.scoring.services import health_profile_default_ensure
from fullfield.errors import NotFound


@dataclass(frozen=True)
class CurrentHealth:
    """An account's current health as the last recompute left it (100 is healthiest)."""

    account_id: int
    score: float
    band: str  # "good" (>= 70), "average" (40..69) or "poor" (< 40)
    previous_score: float | None  # the score of the account's previous snapshot, if any
    as_of: datetime
    churn_probability: float | None  # 0..1, calibrated or the band's historical rate
    # The last time the previous score was current: the score changed after this moment.
    previous_as_of: datetime | None = None


def account_current_health(*, account_ids: Collection[int]) -> dict[int, CurrentHealth]:
    """The current health of each scored account among these; unscored accounts are absent."""
    rows = HealthScore.objects.filter(account_id__in=list(account_ids)).values_list(
        "account_id",
        "score",
        "band",
        "previous_score",
        "as_of",
        "churn_probability",
        "previous_as_of",
    )
    return {
        row[0]: CurrentHealth(
            account_id=row[0],
            score=row[1],
            band=row[2],
            previous_score=row[3],
            as_of=row[4],
            churn_probability=row[5],
            previous_as_of=row[6],
        )
        for row in rows
    }


def account_churn_probabilities(*, account_ids: Collection[int]) -> dict[int, float]:
    """Each scored account's current churn probability (0..1); unscored accounts are absent."""
    return {
        account_id: health.churn_probability
        for account_id, health in account_current_health(account_ids=account_ids).items()
        if health.churn_probability is not None
    }


# --- profiles, explanation, history --------------------------------------------------------


def health_profile_list() -> QuerySet[HealthProfile]:
    health_profile_default_ensure()
    return HealthProfile.objects.all()


def health_profile_get(*, profile_id: int) -> HealthProfile:
    profile = HealthProfile.objects.filter(pk=profile_id).first()
    if profile is None:
        raise NotFound(f"No health profile with id {profile_id}.")
    return profile


def _account_exists(account_id: int) -> None:
    if not Account.objects.filter(pk=account_id).exists():
        raise NotFound(f"No account with id {account_id}.")


@dataclass(frozen=True)
class ComponentExplanation:
    key: str
    metric: str
    label: str
    unit: str
    raw_value: float | None
    score: float | None
    weight: float  # the profile's weight
    effective_weight: float  # percent of the score, after missing inputs' weight is spread
    contribution: float  # points of the score: score x effective weight / 100
    missing: bool
    previous_raw_value: float | None
    previous_score: float | None
    previous_contribution: float | None


@dataclass(frozen=True)
class HealthExplanation:
    account_id: int
    score: float
    band: str
    as_of: datetime
    profile_id: int
    profile_name: str
    profile_version: int
    churn_probability: float | None
    components: list[ComponentExplanation]
    missing: list[str]
    previous_score: float | None
    previous_as_of: datetime | None
    change: float | None
    reason: str
    best_improvement: dict[str, Any] | None


def _triples(values: list[float | None] | None) -> list[tuple[float | None, ...]]:
    values = values or []
    return [tuple(values[index : index + 3]) for index in range(0, len(values), 3)]


def _describe_move(component: ComponentExplanation) -> str:
    before, after = component.previous_raw_value, component.raw_value
    label = component.label
    if before is None and after is None:
        return f"{label} unknown"
    if before is None:
        return f"{label} now known ({_number(after)})"
    if after is None:
        return f"{label} no longer known"
    if component.metric == "support_load":
        direction = "up" if after > before else "down"
        return f"{label} {direction} from {_number(before)} to {_number(after)}"
    if before and component.unit not in ("%", "0..100", "0/1"):
        percent = round(100 * (after - before) / abs(before))
        return f"{label} {'up' if percent > 0 else 'down'} {abs(percent)}%"
    return f"{label} {_number(before)} -> {_number(after)}"


def _number(value: float | None) -> str:
    if value is None:
        return "none"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def account_health_explain(*, account_id: int) -> HealthExplanation:
    """The account's current score with each component's part, and why it last changed."""
    _account_exists(account_id)
    current = HealthScore.objects.filter(account_id=account_id).select_related("profile").first()
    if current is None:
        raise NotFound(f"Account {account_id} has no health score yet.")
    versions = {
        version.version: version.components
        for version in HealthProfileVersion.objects.filter(
            profile_id=current.profile_id,
            version__in=[current.profile_version, current.previous_profile_version or 0],
        )
    }
    components = versions.get(current.profile_version) or current.profile.components
    comparable = current.previous_profile_version == current.profile_version
    previous = _triples(current.previous_components) if comparable else []
    explained = []
    for index, (component, (raw, score, effective)) in enumerate(
        zip(components, _triples(current.components), strict=False)
    ):
        metric = METRICS[component["metric"]]
        before = previous[index] if index < len(previous) else (None, None, None)
        explained.append(
            ComponentExplanation(
                key=component["key"],
                metric=component["metric"],
                label=metric.label,
                unit=metric.unit,
                raw_value=raw,
                score=score,
                weight=float(component["weight"]),
                effective_weight=float(effective or 0),
                contribution=round((score or 0) * float(effective or 0) / 100, 2),
                missing=score is None,
                previous_raw_value=before[0],
                previous_score=before[1],
                previous_contribution=(
                    round((before[1] or 0) * float(before[2] or 0) / 100, 2)
                    if before[1] is not None
                    else None
                ),
            )
        )
    change = (
        round(current.score - current.previous_score, 1)
        if current.previous_score is not None
        else None
    )
    return HealthExplanation(
        account_id=account_id,
        score=current.score,
        band=current.band,
        as_of=current.as_of,
        profile_id=current.profile_id,
        profile_name=current.profile.name,
        profile_version=current.profile_version,
        churn_probability=current.churn_probability,
        components=explained,
        missing=[c.key for c in explained if c.missing],
        previous_score=current.previous_score,
        previous_as_of=current.previous_as_of,
        change=change,
        reason=_reason(change, explained, comparable),
        best_improvement=_best_improvement(explained),
    )


def _reason(change: float | None, components: list[ComponentExplanation], comparable: bool) -> str:
    if change is None:
        return "First score."
    sign = f"{change:+.0f}" if abs(change) >= 1 else f"{change:+.1f}"
    if not comparable:
        return f"{sign}: the profile changed."
    moved = sorted(
        (
            c
            for c in components
            if (c.contribution - (c.previous_contribution or 0)) * change > 0
            and (c.raw_value != c.previous_raw_value)
        ),
        key=lambda c: abs(c.contribution - (c.previous_contribution or 0)),
        reverse=True,
    )[:3]
    if not moved:
        return f"{sign}: inputs unchanged."
    return f"{sign}: " + ", ".join(_describe_move(c) for c in moved)


def _best_improvement(components: list[ComponentExplanation]) -> dict[str, Any] | None:
    """The component whose rise to 100 would add the most points to the score."""
    candidates = [c for c in components if not c.missing]
    if not candidates:
        return None
    best = max(candidates, key=lambda c: (100 - (c.score or 0)) * c.effective_weight)
    gain = round((100 - (best.score or 0)) * best.effective_weight / 100, 1)
    if gain <= 0:
        return None
    return {
        "key": best.key,
        "label": best.label,
        "score": best.score,
        "potential_gain": gain,
        "text": f"Raising {best.label} to full marks would add up to {gain:g} points.",
    }


def account_health_history(*, account_id: int) -> QuerySet[HealthSnapshot]:
    _account_exists(account_id)
    return HealthSnapshot.objects.filter(account_id=account_id)


def calibration_list() -> QuerySet[Calibration]:
    return Calibration.objects.all()


def calibration_get(*, calibration_id: int) -> Calibration:
    calibration = Calibration.objects.filter(pk=calibration_id).first()
    if calibration is None:
        raise NotFound(f"No calibration with id {calibration_id}.")
    return calibration


# --- value: ROI, CLV, customer equity ---------------------------------------------------------

EQUITY_GROUPS = ("segment", "squad", "parent")


def account_value_get(*, account_id: int) -> AccountValue:
    _account_exists(account_id)
    value = AccountValue.objects.filter(account_id=account_id).first()
    if value is None:
        raise NotFound(f"Account {account_id} has no value figures yet.")
    return value


def customer_equity(*, group_by: str | None = None) -> list[dict[str, Any]]:
    """Customer equity (sum of CLV), ARR and accounts, in total or per segment, squad or top
    account of a hierarchy (each account counted once, under its root)."""
    accounts, values = Account._meta.db_table, AccountValue._meta.db_table
    key = {
        None: "NULL::text",
        "segment": "a.segment",
        "squad": "a.squad_id::text",
        "parent": "tree.root::text",
    }[group_by]
    tree = (
        f"WITH RECURSIVE tree (id, root) AS (SELECT id, id FROM {accounts} "  # noqa: S608
        f"WHERE parent_id IS NULL UNION ALL SELECT a.id, tree.root FROM {accounts} a "
        "JOIN tree ON a.parent_id = tree.id) "
        if group_by == "parent"
        else ""
    )
    join = "JOIN tree ON tree.id = a.id" if group_by == "parent" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"{tree}SELECT {key} AS grp, count(*), COALESCE(sum(v.clv), 0), "  # noqa: S608
            f"COALESCE(sum(v.arr), 0), count(v.clv) FROM {values} v "
            f"JOIN {accounts} a ON a.id = v.account_id {join} GROUP BY 1 ORDER BY 3 DESC, 1"
        )
        return [
            {
                "group": group,
                "accounts": accounts_count,
                "customer_equity": equity,
                "arr": arr,
                "accounts_with_clv": with_clv,
            }
            for group, accounts_count, equity, arr, with_clv in cursor.fetchall()
        ]


def customer_equity_series(*, days: int) -> list[dict[str, Any]]:
    """The tenant's customer equity per UTC day, from the daily value snapshots."""
    since = timezone.now().date() - timedelta(days=days)
    rows = (
        AccountValueSnapshot.objects.filter(day__gt=since)
        .values("day")
        .annotate(customer_equity=Coalesce(Sum("clv"), Decimal(0)), arr=Sum("arr"))
        .order_by("day")
    )
    return [dict(row) for row in rows]


# --- figures over a set of accounts (squads' scorecards) ---------------------------------------


@dataclass(frozen=True)
class ValueTotals:
    """Scoring's value figures summed over a set of accounts."""

    accounts_valued: int
    customer_equity: Decimal  # the sum of their CLV
    arr: Decimal
    revenue_12m: Decimal
    expansion_12m: Decimal
    cost_to_serve_12m: Decimal
    roi: float | None  # an account's ROI formula applied to the sums; none without a cost


def accounts_value_totals(*, account_ids: Collection[int]) -> ValueTotals:
    from apps.scoring.value import value_settings_get

    zero = Decimal(0)
    sums = AccountValue.objects.filter(account_id__in=list(account_ids)).aggregate(
        valued=Count("pk"),
        equity=Coalesce(Sum("clv"), zero),
        arr=Coalesce(Sum("arr"), zero),
        kept=Coalesce(Sum("revenue_12m"), zero),
        expansion=Coalesce(Sum("expansion_12m"), zero),
        cost=Coalesce(Sum("cost_to_serve_12m"), zero),
    )
    cost = sums["cost"]
    margin = Decimal(str(value_settings_get().gross_margin))  # a float until reloaded
    roi = (
        round(float(((sums["kept"] + sums["expansion"]) * margin - cost) / cost), 3)
        if cost > 0
        else None
    )
    return ValueTotals(
        accounts_valued=sums["valued"],
        customer_equity=sums["equity"],
        arr=sums["arr"],
        revenue_12m=sums["kept"],
        expansion_12m=sums["expansion"],
        cost_to_serve_12m=cost,
        roi=roi,
    )


def customer_equity_on(*, account_ids: Collection[int], day: date) -> Decimal:
    """The accounts' customer equity as their daily value snapshots had it on `day` (each
    account's latest snapshot on or before it; accounts not valued by then count nothing)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(sum(clv), 0) FROM (SELECT DISTINCT ON (account_id) clv "  # noqa: S608
            f"FROM {AccountValueSnapshot._meta.db_table} WHERE account_id = ANY(%s) "
            "AND day <= %s ORDER BY account_id, day DESC) latest",
            [list(account_ids), day],
        )
        return Decimal(cursor.fetchone()[0])


@dataclass(frozen=True)
class HealthAsOf:
    """The accounts' health at a moment, from the score history."""

    distribution: dict[str, int]  # good, average, poor: accounts scored by then
    average_score: float | None


def accounts_health_as_of(*, account_ids: Collection[int], moment: datetime) -> HealthAsOf:
    """Each account's latest health snapshot at or before `moment`, counted by band."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT band, count(*), sum(score) FROM (SELECT DISTINCT ON (account_id) band, "  # noqa: S608
            f"score FROM {HealthSnapshot._meta.db_table} WHERE account_id = ANY(%s) "
            "AND as_of <= %s ORDER BY account_id, as_of DESC) latest GROUP BY band",
            [list(account_ids), moment],
        )
        rows = cursor.fetchall()
    counts = {band: int(count) for band, count, _ in rows}
    scored = sum(counts.values())
    total = sum(float(score) for _, _, score in rows)
    return HealthAsOf(
        distribution={band: counts.get(band, 0) for band in ("good", "average", "poor")},
        average_score=round(total / scored, 1) if scored else None,
    )


def band_as_of(*, account: Any, moment: Any) -> Subquery:
    """An expression: the band of the account's latest health snapshot at or before `moment`
    (both expressions, e.g. OuterRef("account_id") and OuterRef("created_at")); NULL before
    its first score."""
    return Subquery(
        HealthSnapshot.objects.filter(account_id=account, as_of__lte=moment)
        .order_by("-as_of")
        .values("band")[:1]
    )


def accounts_with_value(accounts: QuerySet[Account]) -> QuerySet[Account]:
    """These accounts annotated with scoring's current `clv` and `roi` (NULL until valued)."""
    values = AccountValue.objects.filter(account_id=OuterRef("pk"))
    return accounts.annotate(
        clv=Subquery(values.values("clv")[:1]), roi=Subquery(values.values("roi")[:1])
    )


# --- for pages: lists, distribution, trends -----------------------------------------------


def health_distribution() -> dict[str, Any]:
    """How many accounts are in each band now, with the newest score's time."""
    rows = HealthScore.objects.values("band").annotate(accounts=Count("account_id"))
    counts = {band: 0 for band in Band.values}
    counts.update({row["band"]: row["accounts"] for row in rows})
    latest = HealthScore.objects.aggregate(as_of=Max("as_of"))["as_of"]
    return {"counts": counts, "total": sum(counts.values()), "as_of": latest}


def health_distribution_series(*, days: int) -> list[dict[str, Any]]:
    """Accounts per band on each UTC day that has daily snapshots, over the last `days` days
    (the day's last score of each account scored that day)."""
    since = timezone.now().date() - timedelta(days=days)
    rows = (
        HealthSnapshot.objects.filter(day__gt=since, band_change=False)
        .values("day", "band")
        .annotate(accounts=Count("id"))
        .order_by("day")
    )
    by_day: dict[Any, dict[str, int]] = {}
    for row in rows:
        by_day.setdefault(row["day"], {band: 0 for band in Band.values})[row["band"]] = row[
            "accounts"
        ]
    return [{"day": day, **counts} for day, counts in by_day.items()]
