"""Squad scorecards: a squad's own figures over a period, per squad and rolled up.

Each figure is computed with a handful of set-based queries per squad (never per account),
and `links` names the API list that shows the rows behind it.

- accounts covered: assigned to the squad or matching its saved filter.
- customer equity: the sum over covered accounts of ARR x expected lifetime, lifetime =
  1 / churn probability capped at MAX_LIFETIME_YEARS (fallback probability when unscored);
  its change is against the same figure from the ARR at the period's start.
- NRR and GRR: the revenue metrics of the accounts assigned to the squad (accounts.revenue).
- health distribution: current band of each covered account ("unscored" until scored).
- renewals at risk: covered accounts with a term ending within 90 days whose band is poor.
- items opened / closed, SLA hit rate (done before the SLA time), effort minutes.
- saves: accounts taken out of poor health (into average or good) by a completed item: the
  account was poor when the item opened and no longer poor when it was completed.
- ROI of the squad's work: (ARR of accounts whose items were completed in the period that
  are still paying at its end) / cost of the effort (effort hours x EFFORT_HOURLY_COST).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, Sum

from apps.accounts.models import Subscription
from apps.accounts.revenue.metrics import GroupBy, revenue_report
from apps.accounts.revenue.periods import Period
from apps.scoring.selectors import account_current_health
from apps.squads.models import Squad, WorkItem, WorkItemStatus
from apps.squads.priority import FALLBACK_CHURN_PROBABILITY, account_arr
from apps.squads.selectors import squad_accounts

MAX_LIFETIME_YEARS = Decimal(10)
EFFORT_HOURLY_COST = Decimal(60)
RENEWAL_RISK_DAYS = 90
SAVED = Q(band_at_open="poor", band_at_close__in=["average", "good"])


def _ratio(numerator: Decimal | int, denominator: Decimal | int) -> float | None:
    return round(float(numerator) / float(denominator), 4) if denominator else None


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

    def as_outcome(self) -> dict[str, Any]:
        """The figures a closed cycle keeps (JSON-safe)."""
        outcome = dataclasses.asdict(self)
        for key in ("links", "squad_id", "squad_name", "start", "end"):
            outcome.pop(key)
        return {
            key: (str(value) if isinstance(value, Decimal) else value)
            for key, value in outcome.items()
        }


def _equity(arr: dict[int, Decimal], probabilities: dict[int, float]) -> Decimal:
    total = Decimal(0)
    for account_id, value in arr.items():
        probability = Decimal(str(probabilities.get(account_id, FALLBACK_CHURN_PROBABILITY)))
        lifetime = (
            min(MAX_LIFETIME_YEARS, 1 / probability) if probability > 0 else MAX_LIFETIME_YEARS
        )
        total += value * lifetime
    return total.quantize(Decimal("0.01"))


def _arr_on(account_ids: list[int], day: dt.date) -> dict[int, Decimal]:
    rows = (
        Subscription.objects.filter(Subscription.in_force_on(day), account_id__in=account_ids)
        .values("account_id")
        .annotate(mrr=Sum("mrr"))
    )
    return {row["account_id"]: row["mrr"] * 12 for row in rows}


def squad_scorecard(*, squad: Squad, start: dt.date, end: dt.date) -> Scorecard:
    """The squad's figures for the days [start, end)."""
    card = Scorecard(squad_id=squad.pk, squad_name=squad.name, start=start, end=end)
    account_ids = list(squad_accounts(squad=squad).values_list("pk", flat=True))
    card.accounts_covered = len(account_ids)
    health = account_current_health(account_ids=account_ids)
    probabilities = {
        i: h.churn_probability for i, h in health.items() if h.churn_probability is not None
    }
    arr_now = account_arr(account_ids=account_ids)
    card.customer_equity = _equity(arr_now, probabilities)
    card.customer_equity_change = card.customer_equity - _equity(
        _arr_on(account_ids, start), probabilities
    )
    bands = Counter(h.band for h in health.values())
    card.health_distribution = {
        "good": bands["good"],
        "average": bands["average"],
        "poor": bands["poor"],
        "unscored": len(account_ids) - len(health),
    }
    today = dt.date.today()
    ending = set(
        Subscription.objects.filter(
            Subscription.in_force_on(today),
            account_id__in=account_ids,
            period_end__lte=today + dt.timedelta(days=RENEWAL_RISK_DAYS),
        ).values_list("account_id", flat=True)
    )
    at_risk = [i for i in ending if i in health and health[i].band == "poor"]
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
    card.saves = (
        items.filter(in_period, SAVED, status=WorkItemStatus.DONE)
        .values("account_id")
        .distinct()
        .count()
    )
    worked = set(
        items.filter(in_period, status=WorkItemStatus.DONE).values_list("account_id", flat=True)
    )
    kept = sum(
        (v for i, v in _arr_on(list(worked), end - dt.timedelta(days=1)).items()), Decimal(0)
    )
    cost = Decimal(card.effort_minutes) / 60 * EFFORT_HOURLY_COST
    card.roi = _ratio(kept, cost)

    report = revenue_report(periods=[Period(start=start, end=end)], group_by=GroupBy.SQUAD)
    for group in report.periods[0].groups:
        if group.key == squad.pk:
            card.net_revenue_retention = group.figures.net_revenue_retention
            card.gross_revenue_retention = group.figures.gross_revenue_retention
    items_url = f"/api/v1/work-items/?squad={squad.pk}"
    closed = f"closed_after={start}&closed_before={end}"
    card.links = {
        "accounts_covered": f"/api/v1/squads/{squad.pk}/accounts/",
        "items_opened": f"{items_url}&created_after={start}&created_before={end}",
        "items_closed": f"{items_url}&status=done&{closed}",
        "items_dismissed": f"{items_url}&status=dismissed&{closed}",
        "effort_minutes": f"{items_url}&status=done&{closed}",
        "saves": f"{items_url}&status=done&saved=true&{closed}",
        "net_revenue_retention": f"/api/v1/metrics/revenue/?start={start}&end={end}&group_by=squad",
    }
    return card


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
    total.sla_hit_rate = _ratio(closed_on_time, total.items_closed)
    report = revenue_report(periods=[Period(start=start, end=end)])
    total.net_revenue_retention = report.periods[0].totals.net_revenue_retention
    total.gross_revenue_retention = report.periods[0].totals.gross_revenue_retention
    total.links = {"work_items": f"/api/v1/work-items/?created_after={start}"}
    return total, cards
