"""The revenue overview of a tenant (the last twelve months and the trailing year), and its
encoding for the stored snapshot the dashboard reads (apps.accounts.models.RevenueSnapshot)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone

from apps.accounts.revenue.metrics import FIGURE_NAMES, RevenueFigures, revenue_report
from apps.accounts.revenue.periods import Period, add_months, month_period

OVERVIEW_MONTHS = 12
MONEY_FIGURES = frozenset(name for name in FIGURE_NAMES if name.endswith("_mrr") or name == "arr")
RATIO_FIGURES = frozenset(
    ("gross_revenue_retention", "net_revenue_retention", "logo_churn_rate", "mrr_churn_rate")
)


@dataclasses.dataclass(frozen=True)
class RevenueOverview:
    as_of: dt.datetime
    currency: str
    trailing_year: RevenueFigures
    this_month: RevenueFigures
    months: list[tuple[Period, RevenueFigures]]


def revenue_overview(
    *, today: dt.date | None = None, months: int = OVERVIEW_MONTHS
) -> RevenueOverview:
    """The last `months` calendar months (this one to date) and the trailing year, in one query."""
    now = timezone.now()
    today = today or now.date()
    current = month_period(today.year, today.month)
    monthly = [
        month_period(start.year, start.month)
        for start in (add_months(current.start, -offset) for offset in range(months - 1, -1, -1))
    ]
    # The months so far end tomorrow: figures are "to date", never about the future.
    tomorrow = today + dt.timedelta(days=1)
    monthly[-1] = Period(start=monthly[-1].start, end=tomorrow)
    trailing = Period(start=add_months(tomorrow, -12), end=tomorrow)
    report = revenue_report(periods=[*monthly, trailing])
    figures = [period.totals for period in report.periods]
    return RevenueOverview(
        as_of=now,
        currency=report.currency,
        trailing_year=figures[-1],
        this_month=figures[-2],
        months=list(zip(monthly, figures[:-1], strict=True)),
    )


def _figures_encode(figures: RevenueFigures) -> dict[str, Any]:
    return {
        name: (str(value) if isinstance(value, Decimal) else value)
        for name, value in dataclasses.asdict(figures).items()
    }


def _figures_decode(raw: dict[str, Any]) -> RevenueFigures:
    values: dict[str, Any] = {}
    for name in FIGURE_NAMES:
        value = raw.get(name)
        if name in MONEY_FIGURES:
            values[name] = Decimal(value or 0)
        elif name in RATIO_FIGURES:
            values[name] = None if value is None else Decimal(value)
        else:
            values[name] = int(value or 0)
    return RevenueFigures(**values)


def overview_encode(overview: RevenueOverview) -> dict[str, Any]:
    """A JSON-ready form of the overview (Decimals as strings, so no cent is rounded)."""
    return {
        "as_of": overview.as_of.isoformat(),
        "currency": overview.currency,
        "trailing_year": _figures_encode(overview.trailing_year),
        "this_month": _figures_encode(overview.this_month),
        "months": [
            [period.start.isoformat(), period.end.isoformat(), _figures_encode(figures)]
            for period, figures in overview.months
        ],
    }


def overview_decode(raw: dict[str, Any]) -> RevenueOverview:
    return RevenueOverview(
        as_of=dt.datetime.fromisoformat(raw["as_of"]),
        currency=raw["currency"],
        trailing_year=_figures_decode(raw["trailing_year"]),
        this_month=_figures_decode(raw["this_month"]),
        months=[
            (
                Period(start=dt.date.fromisoformat(start), end=dt.date.fromisoformat(end)),
                _figures_decode(figures),
            )
            for start, end, figures in raw["months"]
        ],
    )
