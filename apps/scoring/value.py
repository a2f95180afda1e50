"""ROI, churn-adjusted lifetime value (CLV) and customer equity, set-based like the scores.

Over the trailing 12 months, per account:
- revenue kept: subscription revenue (each term's MRR x the months of it inside the window,
  terms active or past due, upgrades excluded), expansion: won expansion deals closed inside;
- cost to serve: touchpoint effort (hours x the hourly rate of the role of the member who
  logged it, or the default hourly rate for a role without its own rate and for effort logged
  by no member) + tickets opened x the ticket cost + onboarding plans started x the onboarding
  cost;
- ROI = ((revenue kept + expansion) x gross margin - cost to serve) / cost to serve (none
  without a cost);
- expected lifetime: 1 / yearly churn probability (from the health score's churn probability
  over its horizon), capped; CLV = ARR x gross margin x expected lifetime; customer equity is
  the sum of CLV.
"""

# ruff: noqa: S608  (SQL built from table names and %(params)s only)

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.accounts.models import (
    Account,
    OnboardingPlan,
    Opportunity,
    Subscription,
    Ticket,
    Touchpoint,
)
from apps.scoring.models import AccountValue, AccountValueSnapshot, HealthScore, ValueSettings
from fullfield.errors import DomainError

WINDOW_DAYS = 365
CHURN_HORIZON_DAYS = 30

# The functional roles of squads' members, which squads owns (scoring imports no squads
# module; a squads test keeps the two lists equal). Its member table is read by name below.
ROLES = (
    "sales",
    "marketing",
    "success",
    "service",
    "product",
    "communications",
    "account_management",
    "analyst",
)
MEMBERS_TABLE = "squads_member"
MAX_RATE = Decimal("99999999.99")


def role_hourly_rates_errors(rates: object) -> list[str]:
    """What is wrong with a {role: hourly rate} map (empty when nothing is)."""
    if not isinstance(rates, dict):
        return ['An object of role to hourly rate, e.g. {"success": "75.00"}.']
    errors = []
    unknown = sorted(str(role) for role in rates if role not in ROLES)
    if unknown:
        errors.append(
            f"Unknown role{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}; "
            f"the roles are {', '.join(ROLES)}."
        )
    for role, rate in rates.items():
        try:
            amount = Decimal(str(rate))
        except ArithmeticError:
            errors.append(f"{role}: not a number.")
            continue
        if not amount.is_finite() or not 0 <= amount <= MAX_RATE:
            errors.append(f"{role}: a rate is a number from 0 to {MAX_RATE}.")
    return errors


def value_settings_get() -> ValueSettings:
    settings, _ = ValueSettings.objects.get_or_create(pk=1)
    return settings


@transaction.atomic
def value_settings_update(*, data: dict[str, Any]) -> ValueSettings:
    settings = ValueSettings.objects.select_for_update().get(pk=value_settings_get().pk)
    errors: dict[str, list[str]] = {}
    margin = data.get("gross_margin", settings.gross_margin)
    if not Decimal(0) <= Decimal(margin) <= Decimal(1):
        errors["gross_margin"] = ["Between 0 and 1."]
    for name in ("hourly_rate", "ticket_cost", "onboarding_cost"):
        if name in data and Decimal(data[name]) < 0:
            errors[name] = ["Not negative."]
    if "lifetime_cap_years" in data and not 0 < Decimal(data["lifetime_cap_years"]) <= 50:
        errors["lifetime_cap_years"] = ["More than 0, at most 50."]
    if "role_hourly_rates" in data:
        role_errors = role_hourly_rates_errors(data["role_hourly_rates"])
        if role_errors:
            errors["role_hourly_rates"] = role_errors
    if errors:
        raise DomainError("The value settings are not valid.", fields=errors)
    for name, value in data.items():
        if name == "role_hourly_rates":
            # Kept as exact decimal strings; the whole map is replaced.
            value = {role: f"{Decimal(str(rate)):.2f}" for role, rate in value.items()}
        setattr(settings, name, value)
    settings.save()
    return settings


def account_value_recompute(
    *, account_ids: Collection[int] | None = None, as_of: dt.datetime | None = None
) -> int:
    """Recompute ROI and CLV for these accounts (all when None); returns the accounts written."""
    settings = value_settings_get()
    moment = as_of or timezone.now()
    day = moment.astimezone(dt.UTC).date()
    params: dict[str, Any] = {
        "day": day,
        "start": day - dt.timedelta(days=WINDOW_DAYS),
        "as_of": moment,
        "margin": settings.gross_margin,
        "hourly": settings.hourly_rate,
        "role_rates": json.dumps(settings.role_hourly_rates or {}),
        "ticket": settings.ticket_cost,
        "onboarding": settings.onboarding_cost,
        "cap": settings.lifetime_cap_years,
        "horizon": CHURN_HORIZON_DAYS,
        "ids": list(account_ids) if account_ids is not None else None,
    }
    subscriptions, opportunities = Subscription._meta.db_table, Opportunity._meta.db_table
    touchpoints, tickets = Touchpoint._meta.db_table, Ticket._meta.db_table
    plans, scores = OnboardingPlan._meta.db_table, HealthScore._meta.db_table
    values, snapshots = AccountValue._meta.db_table, AccountValueSnapshot._meta.db_table
    sql = f"""
        WITH target AS (
            SELECT id FROM {Account._meta.db_table}
            WHERE %(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s::bigint[])
        ),
        terms AS (
            SELECT s.account_id,
                12 * COALESCE(sum(s.mrr) FILTER (WHERE s.period_start <= %(day)s AND
                    (s.period_end IS NULL OR s.period_end > %(day)s)), 0) AS arr,
                COALESCE(sum(s.mrr * GREATEST(0,
                    LEAST(COALESCE(s.period_end, %(day)s + 1), %(day)s + 1)
                    - GREATEST(s.period_start, %(start)s)) / 30.4375)
                    FILTER (WHERE s.change_kind <> 'upgrade'), 0) AS kept
            FROM {subscriptions} s JOIN target t ON t.id = s.account_id
            WHERE s.status IN ('active', 'past_due') GROUP BY s.account_id
        ),
        expansion AS (
            SELECT o.account_id, sum(o.amount) AS amount FROM {opportunities} o
            JOIN target t ON t.id = o.account_id
            WHERE o.kind = 'expansion' AND o.status = 'won'
              AND o.close_date > %(start)s AND o.close_date <= %(day)s
            GROUP BY o.account_id
        ),
        effort AS (
            SELECT p.account_id, sum(p.effort_minutes / 60.0
                * COALESCE((%(role_rates)s::jsonb ->> m.role)::numeric, %(hourly)s)) AS cost
            FROM {touchpoints} p JOIN target t ON t.id = p.account_id
            LEFT JOIN {MEMBERS_TABLE} m ON m.user_id = p.author_id
            WHERE p.occurred_at > %(as_of)s - interval '365 days' AND p.occurred_at <= %(as_of)s
            GROUP BY p.account_id
        ),
        support AS (
            SELECT k.account_id, count(*) * %(ticket)s AS cost
            FROM {tickets} k JOIN target t ON t.id = k.account_id
            WHERE k.opened_at > %(as_of)s - interval '365 days' AND k.opened_at <= %(as_of)s
            GROUP BY k.account_id
        ),
        onboarding AS (
            SELECT p.account_id, count(*) * %(onboarding)s AS cost
            FROM {plans} p JOIN target t ON t.id = p.account_id
            WHERE p.started_on > %(start)s AND p.started_on <= %(day)s
            GROUP BY p.account_id
        ),
        base AS MATERIALIZED (
            SELECT t.id AS account_id,
                COALESCE(terms.arr, 0) AS arr,
                round(COALESCE(terms.kept, 0), 2) AS kept,
                COALESCE(expansion.amount, 0) AS expansion,
                round(COALESCE(effort.cost, 0) + COALESCE(support.cost, 0)
                    + COALESCE(onboarding.cost, 0), 2) AS cost,
                h.churn_probability AS churn
            FROM target t
            LEFT JOIN terms ON terms.account_id = t.id
            LEFT JOIN expansion ON expansion.account_id = t.id
            LEFT JOIN effort ON effort.account_id = t.id
            LEFT JOIN support ON support.account_id = t.id
            LEFT JOIN onboarding ON onboarding.account_id = t.id
            LEFT JOIN {scores} h ON h.account_id = t.id
        ),
        valued AS MATERIALIZED (
            SELECT base.*,
                CASE WHEN cost > 0 THEN
                    round((((kept + expansion) * %(margin)s - cost) / cost)::numeric, 3)::float8
                END AS roi,
                CASE WHEN churn IS NULL THEN NULL
                     WHEN churn <= 0 THEN %(cap)s::float8
                     ELSE LEAST(%(cap)s::float8,
                         1 / (1 - power(1 - LEAST(churn, 0.999999), 365.0 / %(horizon)s)))
                END AS lifetime
            FROM base
        ),
        current AS (
            INSERT INTO {values} AS v (account_id, arr, revenue_12m, expansion_12m,
                cost_to_serve_12m, roi, churn_probability, expected_lifetime_years, clv, as_of)
            SELECT account_id, arr, kept, expansion, cost, roi, churn, round(lifetime::numeric, 3),
                round(arr * %(margin)s * lifetime::numeric, 2), %(as_of)s
            FROM valued
            ON CONFLICT (account_id) DO UPDATE SET arr = EXCLUDED.arr,
                revenue_12m = EXCLUDED.revenue_12m, expansion_12m = EXCLUDED.expansion_12m,
                cost_to_serve_12m = EXCLUDED.cost_to_serve_12m, roi = EXCLUDED.roi,
                churn_probability = EXCLUDED.churn_probability,
                expected_lifetime_years = EXCLUDED.expected_lifetime_years,
                clv = EXCLUDED.clv, as_of = EXCLUDED.as_of
            RETURNING account_id, arr, roi, clv
        )
        INSERT INTO {snapshots} (account_id, day, arr, roi, clv)
        SELECT account_id, %(day)s, arr, roi, clv FROM current
        ON CONFLICT (account_id, day) DO UPDATE SET arr = EXCLUDED.arr, roi = EXCLUDED.roi,
            clv = EXCLUDED.clv
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")  # see services._lock
        cursor.execute(sql, params)
        return int(cursor.rowcount)
