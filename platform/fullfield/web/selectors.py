"""Reads for pages that compose several apps: the dashboard, the accounts list, the 360."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import (
    DecimalField,
    QuerySet,
    Sum,
)
from django.utils import timezone

from apps.accounts.models import Account, Subscription, UsageDay

MONEY = DecimalField(max_digits=16, decimal_places=2)


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
    only those of accounts now in one of `bands` when some are named.

    The accounts are counted on the account's next renewal date (its soonest term in force
    ends within the window exactly when some term in force does), a range of an index; the
    terms are read along the in-force terms' end-date index, so neither reads the whole book.
    """
    today = today or timezone.now().date()
    last = today + dt.timedelta(days=within_days)
    accounts = Account.objects.filter(next_renewal_on__gt=today, next_renewal_on__lte=last)
    terms = _in_force_terms(today).filter(period_end__gt=today, period_end__lte=last)
    if bands:
        accounts = accounts.filter(health_band__in=list(bands))
        terms = terms.filter(account_id__in=accounts.values("id"))
    totals = terms.aggregate(mrr=Sum("mrr", default=Decimal(0)))
    rows = list(
        terms.order_by("period_end", "-mrr", "id").values(
            "id", "account_id", "account__name", "account__segment", "plan", "mrr", "period_end"
        )[:limit]
    )
    return {
        "count": accounts.count(),
        "mrr": totals["mrr"],
        "rows": rows,
        "within_days": within_days,
    }


# --- accounts list ------------------------------------------------------------------------


def accounts_renewing_within(
    queryset: QuerySet[Account], *, days: int, today: dt.date | None = None
) -> QuerySet[Account]:
    """Accounts with a term in force that ends within `days`: their next renewal (the soonest
    such end, kept on the account) falls in the window."""
    today = today or timezone.now().date()
    return queryset.filter(
        next_renewal_on__gt=today, next_renewal_on__lte=today + dt.timedelta(days=days)
    )


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
