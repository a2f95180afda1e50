"""Squad scorecards: a squad's own figures over a period, per squad and rolled up.

Each figure is computed with a handful of set-based queries per squad (never per account),
the score and value figures read from scoring (`apps.scoring.selectors`), and `links` names
the API list that shows the rows behind each figure.

- accounts covered: assigned to the squad or matching its saved filter.
- customer equity: the sum of scoring's CLV over the covered accounts; its change is against
  the same sum from scoring's daily value snapshots on the day before the period starts.
- ROI: scoring's ROI formula over the covered accounts' summed revenue kept, expansion and
  cost to serve (the squad's effort is a touchpoint, so it is in the cost).
- NRR and GRR: the revenue metrics of the accounts assigned to the squad (accounts.revenue).
- health distribution: the current band of each covered account ("unscored" until scored);
  its trend: the distribution and the average score at the period's start, from scoring's
  score history, and the average score's change since.
- renewals at risk: covered accounts in poor or average health with a term ending within 90
  days.
- items opened / closed, SLA hit rate (done before the SLA time), effort minutes.
- saves: accounts that moved out of poor health while a squad item was worked: by the score
  history, the account was poor when the item opened and average or good when it was
  completed (items completed in the period).

A squad's page shows its scorecard over the last SCORECARD_DAYS days as stored, with the time
it was measured: beat refreshes every squad's every few minutes (`squads_scorecards_refresh`),
because at tens of thousands of covered accounts measuring one takes seconds. The page measures
one itself only when none is stored (a squad's first view before beat has run).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db.models import Count, F, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from apps.accounts.models import Subscription
from apps.accounts.revenue.metrics import GroupBy, revenue_report
from apps.accounts.revenue.periods import Period
from apps.scoring.selectors import (
    account_current_health,
    accounts_health_as_of,
    accounts_value_totals,
    band_as_of,
    customer_equity_on,
)
from apps.squads.models import Squad, WorkItem, WorkItemStatus
from apps.squads.priority import account_arr
from apps.squads.selectors import squad_accounts

RENEWAL_RISK_DAYS = 90
AT_RISK_BANDS = ("poor", "average")
SCORECARD_DAYS = 30
# Beat refreshes the stored scorecards every 5 minutes; one left unrefreshed for an hour (beat
# stopped) is dropped, and the page then measures it again.
SCORECARD_KEEP_SECONDS = 3600


def _ratio(numerator: Decimal | int, denominator: Decimal | int) -> float | None:
    return round(float(numerator) / float(denominator), 4) if denominator else None


def saved_items(items: QuerySet[WorkItem]) -> QuerySet[WorkItem]:
    """The items among these whose account was poor when they opened and average or good
    when they were completed, by scoring's score history."""
    return items.annotate(
        band_then=band_as_of(account=OuterRef("account_id"), moment=OuterRef("created_at")),
        band_after=band_as_of(account=OuterRef("account_id"), moment=OuterRef("closed_at")),
    ).filter(status=WorkItemStatus.DONE, band_then="poor", band_after__in=["average", "good"])


@dataclasses.dataclass
class Scorecard:
    squad_id: int | None
    squad_name: str
    start: dt.date
    end: dt.date
    accounts_covered: int = 0
    customer_equity: Decimal = Decimal(0)
    customer_equity_change: Decimal = Decimal(0)
    net_revenue_retention: Decimal | None = None
    gross_revenue_retention: Decimal | None = None
    health_distribution: dict[str, int] = dataclasses.field(default_factory=dict)
    health_distribution_at_start: dict[str, int] = dataclasses.field(default_factory=dict)
    average_health: float | None = None
    average_health_at_start: float | None = None
    average_health_change: float | None = None
    renewals_at_risk: int = 0
    renewals_at_risk_arr: Decimal = Decimal(0)
    items_opened: int = 0
    items_closed: int = 0
    items_dismissed: int = 0
    sla_hit_rate: float | None = None
    effort_minutes: int = 0
    saves: int = 0
    roi: float | None = None
    links: dict[str, str] = dataclasses.field(default_factory=dict)
    # The covered accounts, for the roll-up's figures over their union (not shown).
    account_ids: list[int] = dataclasses.field(default_factory=list, repr=False)

    def as_outcome(self) -> dict[str, Any]:
        """The figures a closed cycle keeps (JSON-safe)."""
        outcome = dataclasses.asdict(self)
        for key in ("links", "squad_id", "squad_name", "start", "end", "account_ids"):
            outcome.pop(key)
        return {
            key: (str(value) if isinstance(value, Decimal) else value)
            for key, value in outcome.items()
        }


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def _health_figures(card: Scorecard, account_ids: list[int]) -> dict[int, Any]:
    health = account_current_health(account_ids=account_ids)
    bands = Counter(h.band for h in health.values())
    card.health_distribution = {
        "good": bands["good"],
        "average": bands["average"],
        "poor": bands["poor"],
        "unscored": len(account_ids) - len(health),
    }
    if health:
        card.average_health = round(sum(h.score for h in health.values()) / len(health), 1)
    then = accounts_health_as_of(account_ids=account_ids, moment=_midnight(card.start))
    card.health_distribution_at_start = {
        **then.distribution,
        "unscored": len(account_ids) - sum(then.distribution.values()),
    }
    card.average_health_at_start = then.average_score
    if card.average_health is not None and then.average_score is not None:
        card.average_health_change = round(card.average_health - then.average_score, 1)
    return health


def squad_scorecard(*, squad: Squad, start: dt.date, end: dt.date) -> Scorecard:
    """The squad's figures for the days [start, end)."""
    card = Scorecard(squad_id=squad.pk, squad_name=squad.name, start=start, end=end)
    account_ids = list(squad_accounts(squad=squad).values_list("pk", flat=True))
    card.account_ids = account_ids
    card.accounts_covered = len(account_ids)
    value = accounts_value_totals(account_ids=account_ids)
    card.customer_equity = value.customer_equity
    card.customer_equity_change = value.customer_equity - customer_equity_on(
        account_ids=account_ids, day=start - dt.timedelta(days=1)
    )
    card.roi = value.roi
    health = _health_figures(card, account_ids)
    today = dt.date.today()
    # Covered accounts as a subquery, not tens of thousands of ids in the statement.
    ending = set(
        Subscription.objects.filter(
            Subscription.in_force_on(today),
            account_id__in=squad_accounts(squad=squad).values("pk"),
            period_end__lte=today + dt.timedelta(days=RENEWAL_RISK_DAYS),
        ).values_list("account_id", flat=True)
    )
    at_risk = [i for i in ending if i in health and health[i].band in AT_RISK_BANDS]
    arr_now = account_arr(account_ids=at_risk)
    card.renewals_at_risk = len(at_risk)
    card.renewals_at_risk_arr = sum((arr_now.get(i, Decimal(0)) for i in at_risk), Decimal(0))

    items = WorkItem.objects.filter(queue__squad=squad)
    in_period = Q(closed_at__date__gte=start, closed_at__date__lt=end)
    figures = items.aggregate(
        opened=Count("id", filter=Q(created_at__date__gte=start, created_at__date__lt=end)),
        closed=Count("id", filter=in_period & Q(status=WorkItemStatus.DONE)),
        dismissed=Count("id", filter=in_period & Q(status=WorkItemStatus.DISMISSED)),
        on_time=Count(
            "id",
            filter=in_period
            & Q(status=WorkItemStatus.DONE)
            & (Q(sla_due_at__isnull=True) | Q(closed_at__lte=F("sla_due_at"))),
        ),
        effort=Sum("effort_minutes", filter=in_period & Q(status=WorkItemStatus.DONE)),
    )
    card.items_opened = figures["opened"]
    card.items_closed = figures["closed"]
    card.items_dismissed = figures["dismissed"]
    card.sla_hit_rate = _ratio(figures["on_time"], figures["closed"])
    card.effort_minutes = figures["effort"] or 0
    card.saves = saved_items(items.filter(in_period)).values("account_id").distinct().count()

    report = revenue_report(
        periods=[Period(start=start, end=end)], group_by=GroupBy.SQUAD, squad_id=squad.pk
    )
    for group in report.periods[0].groups:
        if group.key == squad.pk:
            card.net_revenue_retention = group.figures.net_revenue_retention
            card.gross_revenue_retention = group.figures.gross_revenue_retention
    items_url = f"/api/v1/work-items/?squad={squad.pk}"
    closed = f"closed_after={start}&closed_before={end}"
    accounts_url = f"/api/v1/squads/{squad.pk}/accounts/"
    card.links = {
        "accounts_covered": accounts_url,
        # Each covered account with its CLV, ROI, current score and band (scoring's rows).
        "customer_equity": accounts_url,
        "customer_equity_change": accounts_url,
        "roi": accounts_url,
        "health_distribution": accounts_url,
        "average_health": accounts_url,
        "renewals_at_risk": (
            f"{accounts_url}?band=poor&band=average&renews_within_days={RENEWAL_RISK_DAYS}"
        ),
        "items_opened": f"{items_url}&created_after={start}&created_before={end}",
        "items_closed": f"{items_url}&status=done&{closed}",
        "items_dismissed": f"{items_url}&status=dismissed&{closed}",
        "effort_minutes": f"{items_url}&status=done&{closed}",
        "saves": f"{items_url}&status=done&saved=true&{closed}",
        "net_revenue_retention": f"/api/v1/metrics/revenue/?start={start}&end={end}&group_by=squad",
    }
    return card


def _weighted_average(cards: list[Scorecard], *, now: bool) -> float | None:
    """The average score over every squad's scored accounts (each squad weighted by them)."""
    points = scored = 0.0
    for card in cards:
        average = card.average_health if now else card.average_health_at_start
        bands = card.health_distribution if now else card.health_distribution_at_start
        count = sum(n for band, n in bands.items() if band != "unscored")
        if average is not None:
            points += average * count
            scored += count
    return round(points / scored, 1) if scored else None


def scorecards_rollup(*, start: dt.date, end: dt.date) -> tuple[Scorecard, list[Scorecard]]:
    """Every squad's scorecard (no cap on their number) and their sum across the tenant."""
    cards = [
        squad_scorecard(squad=squad, start=start, end=end)
        for squad in Squad.objects.order_by("name")
    ]
    total = Scorecard(squad_id=None, squad_name="All squads", start=start, end=end)
    closed_on_time = 0
    for card in cards:
        total.accounts_covered += card.accounts_covered
        total.customer_equity += card.customer_equity
        total.customer_equity_change += card.customer_equity_change
        total.renewals_at_risk += card.renewals_at_risk
        total.renewals_at_risk_arr += card.renewals_at_risk_arr
        total.items_opened += card.items_opened
        total.items_closed += card.items_closed
        total.items_dismissed += card.items_dismissed
        total.effort_minutes += card.effort_minutes
        total.saves += card.saves
        closed_on_time += round((card.sla_hit_rate or 0) * card.items_closed)
        for band, count in card.health_distribution.items():
            total.health_distribution[band] = total.health_distribution.get(band, 0) + count
        for band, count in card.health_distribution_at_start.items():
            total.health_distribution_at_start[band] = (
                total.health_distribution_at_start.get(band, 0) + count
            )
    total.average_health = _weighted_average(cards, now=True)
    total.average_health_at_start = _weighted_average(cards, now=False)
    if total.average_health is not None and total.average_health_at_start is not None:
        total.average_health_change = round(total.average_health - total.average_health_at_start, 1)
    covered = sorted(set().union(*(card.account_ids for card in cards)))
    total.roi = accounts_value_totals(account_ids=covered).roi
    total.sla_hit_rate = _ratio(closed_on_time, total.items_closed)
    report = revenue_report(periods=[Period(start=start, end=end)])
    total.net_revenue_retention = report.periods[0].totals.net_revenue_retention
    total.gross_revenue_retention = report.periods[0].totals.gross_revenue_retention
    total.links = {"work_items": f"/api/v1/work-items/?created_after={start}"}
    return total, cards


def scorecard_store_key(squad: Squad) -> str:
    # The creation time tells apart squads that reuse an id (a tenant re-created, a test run);
    # cache keys are per tenant.
    created = int(squad.created_at.timestamp() * 1_000_000)
    return f"squads:scorecard:{squad.pk}:{created}"


def squad_scorecard_refresh(*, squad: Squad) -> tuple[Scorecard, dt.datetime]:
    """Measure the squad's scorecard over the last SCORECARD_DAYS days (today included) and
    store it with the time it was measured."""
    measured_at = timezone.now()
    end = measured_at.date() + dt.timedelta(days=1)
    card = squad_scorecard(squad=squad, start=end - dt.timedelta(days=SCORECARD_DAYS), end=end)
    cache.set(scorecard_store_key(squad), (card, measured_at), timeout=SCORECARD_KEEP_SECONDS)
    return card, measured_at


def squads_scorecards_refresh() -> int:
    """Beat: measure and store every squad's scorecard; returns how many."""
    squads = list(Squad.objects.order_by("pk"))
    for squad in squads:
        squad_scorecard_refresh(squad=squad)
    return len(squads)


def squad_scorecard_stored(*, squad: Squad) -> tuple[Scorecard, dt.datetime]:
    """The squad's stored scorecard and when it was measured; measured now if none is."""
    stored = cache.get(scorecard_store_key(squad))
    if isinstance(stored, tuple) and len(stored) == 2 and isinstance(stored[0], Scorecard):
        return stored[0], stored[1]
    return squad_scorecard_refresh(squad=squad)
