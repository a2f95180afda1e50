"""Stored adoption days: each completed onboarding plan's adoption day at the default settings.

The adoption step is the field report's one scan of usage per plan. `plan_adoption_rebuild`
computes every plan's adoption day once, set-based (one INSERT ... SELECT with the report's own
definition, `selectors.adoption_reached_sql`), and swaps the table's contents in one
transaction, so readers see the old build or the new one, never a mix. The report reads the
settled rows of the latest build when its adoption settings are the defaults, scans usage
only for the rest, and says as of when the stored days were built (`adoption_as_of`).

Rebuilt nightly in every tenant (beat -> fullfield.fan_out -> accounts.plan_adoption_rebuild)
and requested by a report that finds no build yet (`plan_adoption_request`).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.accounts.field.selectors import (
    DEFAULT_ADOPTION_DAYS,
    DEFAULT_ADOPTION_THRESHOLD,
    PLAN,
    PLAN_ADOPTION,
    adoption_reached_sql,
)
from apps.accounts.models import PlanAdoptionBuild

logger = logging.getLogger(__name__)

PLAN_ADOPTION_REBUILD_TASK = "accounts.plan_adoption_rebuild"


@dataclasses.dataclass(frozen=True)
class AdoptionBuild:
    built_at: datetime
    built_on: date
    plans: int


def plan_adoption_rebuild(*, built_on: date | None = None) -> AdoptionBuild:
    """Recompute the stored adoption day of every plan completed by `built_on` (default
    yesterday, the last whole UTC day) in the current tenant, replacing the table's contents
    in one transaction. Concurrent rebuilds wait for each other; readers never wait."""
    day = built_on if built_on is not None else timezone.now().astimezone(UTC).date() - timedelta(1)
    params: dict[str, Any] = {
        "as_of": day,
        "adoption_days": DEFAULT_ADOPTION_DAYS,
        "adoption_threshold": DEFAULT_ADOPTION_THRESHOLD,
        "adoption_event": None,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('jit', 'off', true)")
        # EXCLUSIVE lets reports go on reading the previous build until this one commits.
        cursor.execute(f"LOCK TABLE {PLAN_ADOPTION} IN EXCLUSIVE MODE")
        cursor.execute(f"DELETE FROM {PLAN_ADOPTION}")  # noqa: S608
        cursor.execute(
            f"""
INSERT INTO {PLAN_ADOPTION} (plan_id, account_id, live_on, adopted_on)
SELECT plan.id, plan.account_id, plan.completed_on, reached.day
FROM {PLAN} plan LEFT JOIN LATERAL ({adoption_reached_sql("plan")}) reached ON TRUE
WHERE plan.completed_on IS NOT NULL AND plan.completed_on <= %(as_of)s""",  # noqa: S608
            params,
        )
        plans = cursor.rowcount
        built_at = timezone.now()
        PlanAdoptionBuild.objects.update_or_create(
            singleton=True,
            defaults={
                "built_at": built_at,
                "built_on": day,
                "threshold": DEFAULT_ADOPTION_THRESHOLD,
                "window_days": DEFAULT_ADOPTION_DAYS,
            },
        )
    _analyze(PLAN_ADOPTION)
    return AdoptionBuild(built_at=built_at, built_on=day, plans=plans)


def _analyze(table: str) -> None:
    """Fresh statistics after the table's contents were replaced (outside the transaction)."""
    if connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")


def plan_adoption_request() -> None:
    """Ask a worker to build the stored adoption days once the current transaction commits
    (a report that found none goes on with the usage scan meanwhile)."""
    from celery import current_app

    def send() -> None:
        try:
            current_app.send_task(PLAN_ADOPTION_REBUILD_TASK)
        except Exception:  # the report stands without it; the nightly build comes anyway
            logger.warning("could not request a plan adoption build", exc_info=True)

    transaction.on_commit(send)
