"""The daily usage rollup (`UsageDay`): rebuilt from raw events here, kept current by the one
event writer in the same transaction as each insert."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, transaction

from apps.accounts.models import UsageDay, UsageEvent

# Days are UTC calendar days, whatever the tenant's time zone: one rollup row per event belongs
# to exactly one day, and scores compare windows of whole days.
USAGE_DAY_SQL = "(occurred_at AT TIME ZONE 'UTC')::date"


@transaction.atomic
def usage_rollup_rebuild(*, account_ids: Sequence[int] | None = None) -> int:
    """Recompute the rollup from `UsageEvent` for these accounts (or all); returns its rows.

    The rows of the accounts concerned are replaced in one transaction, so readers see either
    the old or the new rollup, never half of it.
    """
    rollup = UsageDay._meta.db_table
    events = UsageEvent._meta.db_table
    where, params = ("WHERE account_id = ANY(%s)", [list(account_ids)]) if account_ids else ("", [])
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {rollup} {where}", params)  # noqa: S608  (table names only)
        cursor.execute(
            f"""
            INSERT INTO {rollup} (account_id, day, name, event_count, value_sum)
            SELECT account_id, {USAGE_DAY_SQL}, name, count(*), sum(value)
            FROM {events} {where}
            GROUP BY 1, 2, 3
            """,  # noqa: S608  (table names only)
            params,
        )
        return cursor.rowcount
