"""Reads for pages that compose several apps: the dashboard, the accounts list, the 360."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import (
    DecimalField,
    Exists,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.accounts.models import Account, Subscription, UsageDay
from apps.accounts.revenue.metrics import RevenueFigures, revenue_report
from apps.accounts.revenue.periods import Period, add_months, month_period

MONEY = DecimalField(max_digits=16, decimal_places=2)


@dataclass(frozen=True)
class RevenueOverview:
    as_of: dt.datetime
    currency: str
    trailing_year: RevenueFigures
    this_month: RevenueFigures
    months: list[tuple[Period, RevenueFigures]]


def revenue_overview(*, today: dt.date | None = None, months: int = 12) -> RevenueOverview:
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


def _in_force_terms(today: dt.date) -> QuerySet[Subscription]:
    return Subscription.objects.filter(Subscription.in_force_on(today))


def renewals_due(
    *,
    within_days: int,
    today: dt.date | None = None,
    limit: int = 10,
    bands: Collection[str] = (),
) -> dict[str, Any]:
    """Terms in force today that end within the window: the next renewals, soonest first;
    only those of accounts now in one of `bands` when some are named."""
    today = today or timezone.now().date()
    terms = _in_force_terms(today).filter(
        period_end__gt=today, period_end__lte=today + dt.timedelta(days=within_days)
    )
    if bands:
        terms = terms.filter(account__health_band__in=list(bands))
    totals = terms.aggregate(mrr=Sum("mrr", default=Decimal(0)))
    rows = list(
        terms.order_by("period_end", "-mrr", "id").values(
            "id", "account_id", "account__name", "account__segment", "plan", "mrr", "period_end"
        )[:limit]
    )
    return {
        "count": terms.values("account_id").distinct().count(),
        "mrr": totals["mrr"],
        "rows": rows,
        "within_days": within_days,
    }


# --- accounts list ------------------------------------------------------------------------


def accounts_with_revenue(
    queryset: QuerySet[Account], *, today: dt.date | None = None
) -> QuerySet[Account]:
    """Annotates each account with its MRR in force today and its next renewal date."""
    today = today or timezone.now().date()
    in_force = _in_force_terms(today).filter(account_id=OuterRef("pk"))
    return queryset.annotate(
        current_mrr=Coalesce(
            Subquery(
                in_force.order_by().values("account_id").annotate(total=Sum("mrr")).values("total"),
                output_field=MONEY,
            ),
            Value(Decimal(0)),
            output_field=MONEY,
        ),
        next_renewal_on=Subquery(
            in_force.filter(period_end__isnull=False)
            .order_by("period_end")
            .values("period_end")[:1]
        ),
    )


def accounts_renewing_within(
    queryset: QuerySet[Account], *, days: int, today: dt.date | None = None
) -> QuerySet[Account]:
    today = today or timezone.now().date()
    due = _in_force_terms(today).filter(
        account_id=OuterRef("pk"),
        period_end__gt=today,
        period_end__lte=today + dt.timedelta(days=days),
    )
    return queryset.filter(Exists(due))


def account_segments() -> list[str]:
    """The tenant's segments, in order.

    A loose index scan (one index probe per distinct segment) by hand: SELECT DISTINCT reads
    every account, which shows at 100,000 accounts.
    """
    table = Account._meta.db_table
    sql = f"""
        WITH RECURSIVE segments(segment) AS (
            (SELECT segment FROM {table} WHERE segment > '' ORDER BY segment LIMIT 1)
            UNION ALL
            SELECT (SELECT segment FROM {table} WHERE segment > segments.segment
                    ORDER BY segment LIMIT 1)
            FROM segments WHERE segments.segment IS NOT NULL
        )
        SELECT segment FROM segments WHERE segment IS NOT NULL
    """  # noqa: S608 - the table name is the model's
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


# --- account 360 --------------------------------------------------------------------------


def account_daily_usage(
    *, account_id: int, days: int, today: dt.date | None = None
) -> list[tuple[dt.date, int]]:
    """Events per UTC day over the last `days` days (zero-filled), read from the daily rollup."""
    today = today or timezone.now().date()
    first = today - dt.timedelta(days=days - 1)
    counts = dict(
        UsageDay.objects.filter(account_id=account_id, day__gte=first, day__lte=today)
        .values_list("day")
        .annotate(total=Sum("event_count"))
        .order_by()
    )
    return [(day, int(counts.get(day, 0))) for day in _days(first, today)]


def _days(first: dt.date, last: dt.date) -> Sequence[dt.date]:
    return [first + dt.timedelta(days=offset) for offset in range((last - first).days + 1)]


def account_page_by_revenue(
    queryset: QuerySet[Account],
    *,
    key: str,
    descending: bool,
    after: tuple[Any, int] | None,
    limit: int,
    today: dt.date | None = None,
) -> list[tuple[int, Any]]:
    """(id, sort value) of one page of accounts ordered by MRR in force today ("mrr") or by
    next renewal date ("renewal", accounts without one last), then id.

    Hand-written because ordering by a per-account subquery runs it for every account of the
    tenant; one aggregate over the terms in force, joined once, reads them in a single pass
    (MATERIALIZED: a parallel plan would otherwise build the aggregate once per worker).
    """
    today = today or timezone.now().date()
    if key == "mrr":
        key_sql = "COALESCE(revenue.mrr, 0)"
    elif key == "renewal":
        key_sql = "COALESCE(revenue.renewal, DATE '9999-12-31')"
    else:
        raise ValueError(f"unknown revenue sort {key!r}")
    direction, beyond = ("DESC", "<") if descending else ("ASC", ">")
    params: list[Any] = [list(Subscription.IN_FORCE_STATUSES), today, today]
    scope = ""
    if queryset.query.has_filters():
        scope_sql, scope_params = queryset.order_by().values("id").query.sql_with_params()
        scope = f"AND account.id IN ({scope_sql})"
        params.extend(scope_params)
    keyset = ""
    if after is not None:
        keyset = f"AND ({key_sql}, account.id) {beyond} (%s, %s)"
        params.extend(after)
    params.append(limit)
    sql = f"""
        WITH revenue AS MATERIALIZED (
            SELECT account_id, SUM(mrr) AS mrr, MIN(period_end) AS renewal
            FROM {Subscription._meta.db_table}
            WHERE status = ANY(%s) AND period_start <= %s
              AND (period_end IS NULL OR period_end > %s)
            GROUP BY account_id
        )
        SELECT account.id, {key_sql}
        FROM {Account._meta.db_table} account
        LEFT JOIN revenue ON revenue.account_id = account.id
        WHERE TRUE {scope} {keyset}
        ORDER BY 2 {direction}, account.id {direction}
        LIMIT %s
    """  # noqa: S608 - table names and fixed fragments are ours; values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(row[0], row[1]) for row in cursor.fetchall()]
