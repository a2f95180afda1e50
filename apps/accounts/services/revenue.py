"""Derived revenue: each account's MRR in force and next renewal (copied onto the account so
lists sort by them on an index) and the tenant's revenue snapshot (the dashboard's figures).

Every writer of subscription terms calls `revenue_terms_changed` in its transaction; a beat task
(`accounts.revenue_refresh`, fanned out per tenant) brings both up to date as days pass.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from apps.accounts.models import Account, RevenueSnapshot, Subscription
from apps.accounts.revenue.overview import overview_encode, revenue_overview

OVERVIEW_KEY = "overview"
REFRESH_TASK = "accounts.revenue_refresh"
# Figures are recomputed at least this often even when no term changed (months roll over,
# statuses change by the calendar); the beat checks every minute and usually has nothing to do.
SNAPSHOT_MAX_AGE = dt.timedelta(hours=1)
# A burst of term writes sends one refresh, not one per write.
REFRESH_DEBOUNCE_SECONDS = 30


def accounts_revenue_refresh(
    *, account_ids: Iterable[int] | None = None, today: dt.date | None = None
) -> int:
    """Set current_mrr and next_renewal_on of these accounts (all when None) from their terms
    in force today, in one UPDATE that rewrites only rows whose values change. Returns how many
    rows changed."""
    today = today or timezone.now().date()
    accounts, terms = Account._meta.db_table, Subscription._meta.db_table
    params: dict[str, Any] = {
        "statuses": list(Subscription.IN_FORCE_STATUSES),
        "today": today,
    }
    scope_terms = scope_accounts = ""
    if account_ids is not None:
        ids = sorted(set(account_ids))
        if not ids:
            return 0
        params["ids"] = ids
        scope_terms = "AND account_id = ANY(%(ids)s)"
        scope_accounts = "AND account.id = ANY(%(ids)s)"
    sql = f"""
        WITH revenue AS MATERIALIZED (
            SELECT account_id, SUM(mrr) AS mrr, MIN(period_end) AS renewal
            FROM {terms}
            WHERE status = ANY(%(statuses)s) AND period_start <= %(today)s
              AND (period_end IS NULL OR period_end > %(today)s) {scope_terms}
            GROUP BY account_id
        ),
        wanted AS (
            SELECT account.id, COALESCE(revenue.mrr, 0) AS mrr, revenue.renewal
            FROM {accounts} account LEFT JOIN revenue ON revenue.account_id = account.id
            WHERE TRUE {scope_accounts}
        )
        UPDATE {accounts} AS account
        SET current_mrr = wanted.mrr, next_renewal_on = wanted.renewal
        FROM wanted
        WHERE account.id = wanted.id
          AND (account.current_mrr IS DISTINCT FROM wanted.mrr
               OR account.next_renewal_on IS DISTINCT FROM wanted.renewal)
    """  # noqa: S608 - table names are the models'; values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def revenue_terms_changed(*, account_ids: Iterable[int | None]) -> None:
    """Subscription terms of these accounts were written: bring their revenue columns up to
    date now, mark the tenant's snapshot stale and, after commit, ask for a refresh."""
    ids = {account_id for account_id in account_ids if account_id is not None}
    if not ids:
        return
    accounts_revenue_refresh(account_ids=ids)
    # WHERE stale_since IS NULL: a snapshot already marked is not rewritten (nor locked) by
    # every concurrent writer of terms.
    RevenueSnapshot.objects.filter(key=OVERVIEW_KEY, stale_since__isnull=True).update(
        stale_since=timezone.now()
    )
    transaction.on_commit(revenue_refresh_request)


def revenue_refresh_request() -> None:
    """Ask a worker to refresh the revenue snapshot soon (at most one request per tenant in
    REFRESH_DEBOUNCE_SECONDS)."""
    from fullfield.celery_app import app

    # Tenant-prefixed cache key (django_tenants make_key): one pending refresh per tenant.
    if cache.add("accounts:revenue-refresh-sent", 1, timeout=REFRESH_DEBOUNCE_SECONDS):
        app.send_task(REFRESH_TASK, countdown=2)


def revenue_snapshot_refresh() -> RevenueSnapshot:
    """Compute the revenue overview and store it as the tenant's snapshot.

    A term written while the figures are computed keeps the snapshot marked stale (its mark is
    newer than the start), so the next refresh picks it up.
    """
    started = timezone.now()
    overview = revenue_overview()
    with transaction.atomic():
        snapshot, _ = RevenueSnapshot.objects.select_for_update().get_or_create(
            key=OVERVIEW_KEY,
            defaults={"computed_at": started, "figures": {}},
        )
        snapshot.computed_at = started
        snapshot.figures = overview_encode(overview)
        if snapshot.stale_since is not None and snapshot.stale_since <= started:
            snapshot.stale_since = None
        snapshot.save(update_fields=["computed_at", "figures", "stale_since"])
    return snapshot


def revenue_refresh_due(
    *, snapshot: RevenueSnapshot | None = None, now: dt.datetime | None = None
) -> bool:
    now = now or timezone.now()
    snapshot = snapshot or RevenueSnapshot.objects.filter(key=OVERVIEW_KEY).first()
    return (
        snapshot is None
        or snapshot.stale_since is not None
        or snapshot.computed_at.date() != now.date()
        or now - snapshot.computed_at >= SNAPSHOT_MAX_AGE
    )


def revenue_refresh(*, force: bool = False) -> bool:
    """The periodic work: once a day every account's revenue columns (terms start and end by
    the calendar), and the snapshot when it is stale, from another day, or old. Returns whether
    the snapshot was recomputed."""
    today = timezone.now().date()
    snapshot = RevenueSnapshot.objects.filter(key=OVERVIEW_KEY).first()
    if snapshot is None or snapshot.accounts_refreshed_on != today:
        accounts_revenue_refresh(today=today)
        snapshot = revenue_snapshot_refresh()
        snapshot.accounts_refreshed_on = today
        snapshot.save(update_fields=["accounts_refreshed_on"])
        return True
    if force or revenue_refresh_due(snapshot=snapshot):
        revenue_snapshot_refresh()
        return True
    return False
