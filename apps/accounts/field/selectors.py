"""The whole field: one funnel from lead to renewal, where value leaks, which moments matter.

Every figure is computed in SQL from the account records; nothing loops over rows in Python.

Definitions (the API schema repeats them; `STEP_DEFINITIONS` is the one source of both):

- A period is the days [start, end). Timestamps are read as UTC days. `as_of` (default today)
  is the day the journey is followed to: leakage, cohorts and moments look at what happened
  by then.
- MRR follows the revenue metrics (`apps.accounts.revenue.metrics`): a term counts while its
  status is active or past_due, and an account's MRR on a day D is the sum of the mrr of its
  counting terms with period_start <= D < period_end. Opening MRR is taken on start - 1,
  closing MRR on end - 1.
- The funnel counts what happened in the period, step by step (see STEP_DEFINITIONS). A
  step's conversion is its count divided by the previous step's count in the same period: a
  flow ratio, which can exceed 1 when earlier entries move on in this period (cohorts give
  the per-account conversion). Median time in step is the median of each row's days from
  the previous step (null when no row has both dates). MRR carried is, for the steps about
  accounts, the closing MRR of the distinct accounts in the step; for the revenue steps, the
  MRR that moved.
- Acquisition: an account's first paid day is the earliest period_start of its counting
  terms with mrr > 0. A cohort is the accounts whose first paid day falls in one calendar
  month; each step says how many of them reached it by `as_of`.
- Adoption: a live account (an onboarding plan with completed_on) adopts on the first day
  on which its usage since going live (the daily rollup `UsageDay`, never raw events; one
  event name or all) adds up to `adoption_threshold` events, if that day comes within
  `adoption_days` days of going live. Plans gone live from start - adoption_days to as_of
  are considered (for cohorts too).
- Poor survey responses: NPS 0-6 (detractors), CSAT 1-2 (of 5), CES 1-3 (of 7, where 7 is
  effortless).
- Customer equity carried by a step is the sum of the current CLV of the step's distinct
  accounts, as scoring last valued them (its account value table, read by name: this app
  imports no scoring code); accounts not valued yet add nothing, and `equity_as_of` is the
  latest valuation time among them. It is today's value of those accounts, not their value
  on the closing day (scoring keeps no CLV history per step).
- Groups: segment and squad are the account's current ones; source and campaign are those of
  the lead the account was first converted from (an account without one is in the '' group).
  A lead that was never converted has no account, so it belongs to the null group of
  segment and squad, and is left out when the figures are limited to a segment or squad.
- Money is never summed across currencies: a counting term in force from the opening day to
  `as_of`, or a new-business opportunity closing or created in the period, in another
  currency than the tenant's refuses the whole request.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.db import connection, transaction

from apps.accounts.models import (
    Account,
    Lead,
    OnboardingPlan,
    Opportunity,
    PlanAdoption,
    PlanAdoptionBuild,
    Subscription,
    SurveyResponse,
    Ticket,
    UsageDay,
)
from apps.accounts.revenue.metrics import COUNTING_STATUSES, MixedCurrencyError
from apps.accounts.revenue.periods import Period, add_months
from fullfield.errors import DomainError
from fullfield.tenancy.context import current_tenant

DEFAULT_ADOPTION_THRESHOLD = 10
DEFAULT_ADOPTION_DAYS = 30
DEFAULT_LEAK_LIMIT = 10
MAX_LEAK_LIMIT = 100
MAX_PERIOD_MONTHS = 36
# Grace before a deal's close date in which an onboarding kickoff still counts as its start:
# teams often kick off a few days before the signature.
ONBOARDING_GRACE_DAYS = 30
# How far before the period a lost renewal, a poor survey response or a ticket still explains
# an account's leak.
CHURN_REASON_LOOKBACK_DAYS = 90
# Tickets in that window that make "ticket load" a reason.
TICKET_LOAD_MIN = 3
BACK_HALF_LEAKS = "('live', 'adopted', 'contracted', 'churned')"


class GroupBy(StrEnum):
    SEGMENT = "segment"
    SQUAD = "squad"
    SOURCE = "source"
    CAMPAIGN = "campaign"


class Half(StrEnum):
    FRONT = "front"
    BACK = "back"


@dataclasses.dataclass(frozen=True)
class StepDefinition:
    key: str
    half: Half
    label: str
    definition: str


STEP_DEFINITIONS: tuple[StepDefinition, ...] = (
    StepDefinition(
        "lead",
        Half.FRONT,
        "Leads",
        "Leads created in the period (by their source and campaign). MRR and equity carried: null.",
    ),
    StepDefinition(
        "converted",
        Half.FRONT,
        "Converted",
        "Leads converted into an account in the period. Time in step: days from the lead's "
        "creation (when it was recorded here) to its conversion, for leads recorded before "
        "they were converted (a lead imported after its conversion has no time in step).",
    ),
    StepDefinition(
        "opportunity_created",
        Half.FRONT,
        "Opportunities created",
        "New-business opportunities created in the period. Time in step: days from the "
        "account's first lead conversion, when it came before.",
    ),
    StepDefinition(
        "won",
        Half.FRONT,
        "Won",
        "New-business opportunities won with a close date in the period; amount is their sum, "
        "win rate is won / (won + lost) among those closing in the period. Time in step: days "
        "to close (close date - creation day).",
    ),
    StepDefinition(
        "onboarding_started",
        Half.BACK,
        "Onboarding started",
        "Onboarding plans started in the period. Time in step: days from the account's latest "
        f"won new-business deal closing before the start (or up to {ONBOARDING_GRACE_DAYS} "
        "days after it).",
    ),
    StepDefinition(
        "live",
        Half.BACK,
        "Onboarding completed",
        "Onboarding plans completed (the account went live) in the period; on-time rate is the "
        "share completed on or before target_live_on among those with a target. Time in step: "
        "days to live (completed_on - started_on).",
    ),
    StepDefinition(
        "adopted",
        Half.BACK,
        "Adopted",
        "Live accounts whose adoption day (usage since going live reaching adoption_threshold "
        "events within adoption_days days) falls in the period. Time in step: days from going "
        "live to adoption.",
    ),
    StepDefinition(
        "renewed",
        Half.BACK,
        "Renewed",
        "Counting subscription terms of change kind `renewal` starting in the period, with "
        "mrr > 0; MRR is their mrr (a renewal at a lower price recorded as a downgrade is "
        "under contracted). Time in step: days as a customer (from the first paid day).",
    ),
    StepDefinition(
        "expanded",
        Half.BACK,
        "Expanded",
        "Accounts with opening MRR > 0 and a higher closing MRR; MRR is closing - opening. "
        "Time in step: days as a customer at the closing day.",
    ),
    StepDefinition(
        "contracted",
        Half.BACK,
        "Contracted",
        "Accounts with 0 < closing MRR < opening MRR; MRR is opening - closing. Time in step: "
        "days as a customer at the closing day.",
    ),
    StepDefinition(
        "churned",
        Half.BACK,
        "Churned",
        "Accounts with opening MRR > 0 and closing MRR 0; MRR is the opening MRR. Time in "
        "step: days as a customer up to the end of the last paid term.",
    ),
)
STEP_KEYS = tuple(step.key for step in STEP_DEFINITIONS)

LEAK_DEFINITIONS: dict[str, str] = {
    "converted": "Leads created in the period that were not converted by as_of; reasons: their "
    "status. None when segment or squad limits the figures: such leads have no account.",
    "opportunity_created": "Accounts converted from a lead in the period with no new-business "
    "opportunity by as_of.",
    "won": "New-business opportunities created in the period and lost by as_of; value: their "
    "amount; reasons: the loss reasons.",
    "onboarding_started": "Won new-business deals closing in the period whose account started "
    f"no onboarding plan from {ONBOARDING_GRACE_DAYS} days before the close date to as_of; "
    "value: the deal amount and the account's closing MRR.",
    "live": "Onboarding plans started in the period and not completed by as_of.",
    "adopted": "Accounts that went live in the period and did not adopt within adoption_days "
    "days (only once that window has passed by as_of).",
    "contracted": "Accounts that contracted in the period; value: the contraction MRR.",
    "churned": "Accounts that churned in the period; value: the churned MRR; reasons: the loss "
    f"reason of their latest renewal opportunity lost from {CHURN_REASON_LOOKBACK_DAYS} days "
    "before the period to its end.",
}
LEAK_REASONS = (
    "Reasons, where the data has them: a lead's status; an opportunity's loss reason; for "
    "onboarding plans, 'past target' or 'in progress'; for live, adopted, contracted and "
    "churned accounts without one, their latest poor survey response from "
    f"{CHURN_REASON_LOOKBACK_DAYS} days before the period to as_of ('poor <moment> "
    f"response'), else a ticket load ('ticket load: N tickets', N >= {TICKET_LOAD_MIN}) in "
    "that window."
)


def _poor_response_sql(alias: str) -> str:
    return (
        f"(({alias}.kind = 'nps' AND {alias}.score <= 6) "
        f"OR ({alias}.kind = 'csat' AND {alias}.score <= 2) "
        f"OR ({alias}.kind = 'ces' AND {alias}.score <= 3))"
    )


@dataclasses.dataclass(frozen=True)
class FieldParameters:
    period: Period
    as_of: date
    group_by: GroupBy | None = None
    segment: str | None = None
    squad: int | None = None
    adoption_threshold: int = DEFAULT_ADOPTION_THRESHOLD
    adoption_days: int = DEFAULT_ADOPTION_DAYS
    adoption_event: str | None = None
    leak_limit: int = DEFAULT_LEAK_LIMIT


@dataclasses.dataclass(frozen=True)
class StepFigures:
    key: str
    half: str
    label: str
    count: int
    accounts: int
    conversion: Decimal | None
    median_days_in_step: Decimal | None
    mrr: Decimal | None
    amount: Decimal | None = None
    win_rate: Decimal | None = None
    on_time_rate: Decimal | None = None
    equity: Decimal | None = None
    equity_as_of: datetime | None = None


@dataclasses.dataclass(frozen=True)
class FunnelGroup:
    key: str | int | None
    steps: list[StepFigures]


@dataclasses.dataclass(frozen=True)
class Funnel:
    steps: list[StepFigures]
    groups: list[FunnelGroup]


@dataclasses.dataclass(frozen=True)
class CohortStep:
    key: str
    count: int
    share: Decimal | None
    mrr: Decimal | None


@dataclasses.dataclass(frozen=True)
class Cohort:
    month: date
    group_key: str | int | None
    accounts: int
    starting_mrr: Decimal
    mrr_as_of: Decimal
    net_revenue_retention: Decimal | None
    logo_retention: Decimal | None
    steps: list[CohortStep]


@dataclasses.dataclass(frozen=True)
class LeakRow:
    kind: str
    id: int
    account_id: int | None
    account_name: str | None
    mrr: Decimal | None
    amount: Decimal | None
    reason: str


@dataclasses.dataclass(frozen=True)
class LeakReason:
    reason: str
    count: int
    mrr: Decimal | None
    amount: Decimal | None


@dataclasses.dataclass(frozen=True)
class Leak:
    step: str
    definition: str
    count: int
    accounts: int
    mrr: Decimal | None
    amount: Decimal | None
    reasons: list[LeakReason]
    rows: list[LeakRow]


@dataclasses.dataclass(frozen=True)
class MomentMonth:
    month: date
    responses: int
    csat: Decimal | None
    ces: Decimal | None
    nps: Decimal | None


@dataclasses.dataclass(frozen=True)
class RetentionComparison:
    accounts: int
    paying_accounts: int
    churn_rate: Decimal | None
    net_revenue_retention: Decimal | None


@dataclasses.dataclass(frozen=True)
class Moment:
    moment: str
    responses: int
    poor_responses: int
    csat: Decimal | None
    ces: Decimal | None
    nps: Decimal | None
    nps_average: Decimal | None
    trend: list[MomentMonth]
    poor: RetentionComparison
    rest: RetentionComparison


@dataclasses.dataclass(frozen=True)
class FieldReport:
    currency: str
    parameters: FieldParameters
    funnel: Funnel
    cohorts: list[Cohort]
    leakage: list[Leak]
    moments: list[Moment]
    # When the adoption figures read the stored adoption days: when those were built (usage
    # added since to plans they call settled is not seen); null when usage was scanned.
    adoption_as_of: datetime | None = None


# --- shared SQL ---------------------------------------------------------------------------
# The SQL below interpolates only table names and fixed fragments chosen in this module
# (hence the S608 waivers); every value travels as a query parameter.

ACCOUNT = Account._meta.db_table
LEAD = Lead._meta.db_table
OPPORTUNITY = Opportunity._meta.db_table
PLAN = OnboardingPlan._meta.db_table
SUBSCRIPTION = Subscription._meta.db_table
SURVEY = SurveyResponse._meta.db_table
TICKET = Ticket._meta.db_table
USAGE_DAY = UsageDay._meta.db_table
PLAN_ADOPTION = PlanAdoption._meta.db_table
# Scoring's current value per account (account_id, clv, as_of), read by name as the revenue
# metrics read the squads table: accounts is the shared record and imports no other app.
ACCOUNT_VALUE = "scoring_accountvalue"

_ACCOUNT_GROUP_SQL = {
    None: "NULL::text",
    GroupBy.SEGMENT: "account.segment",
    GroupBy.SQUAD: "account.squad_id::text",
    GroupBy.SOURCE: "COALESCE(first_lead.lead_source, '')",
    GroupBy.CAMPAIGN: "COALESCE(first_lead.campaign, '')",
}
_LEAD_GROUP_SQL = {
    None: "NULL::text",
    GroupBy.SEGMENT: "scope.group_key",
    GroupBy.SQUAD: "scope.group_key",
    GroupBy.SOURCE: "lead.lead_source",
    GroupBy.CAMPAIGN: "lead.campaign",
}


TEMP_TABLES = ("field_first_lead", "field_scope", "field_account_mrr", "field_adoption")


def _prepare_sql(group_by: GroupBy | None, *, stored_adoption: bool = False) -> list[str]:
    """Statements filling the temporary tables every part of the report reads.

    `field_first_lead`: the lead each account was first converted from; `field_scope`: the
    accounts in scope with their group; `field_account_mrr`: each account's MRR on the opening,
    closing and as_of days, its first paid day and the end of its last term ending in the
    period; `field_adoption`: each plan gone live from start - adoption_days to as_of, with
    its adoption day (null if none), read from the stored adoption days where
    `stored_adoption` allows (`_adoption_sql`). Computed once per report, with statistics, so
    the four parts do not each repeat the adoption scan and the planner knows their sizes.
    """
    return [
        f"DROP TABLE IF EXISTS {', '.join(TEMP_TABLES)}",
        f"""
CREATE TEMPORARY TABLE field_first_lead ON COMMIT DROP AS
SELECT DISTINCT ON (converted_account_id)
       converted_account_id AS account_id, lead_source, campaign, converted_at
FROM {LEAD}
WHERE converted_account_id IS NOT NULL AND converted_at IS NOT NULL
ORDER BY converted_account_id, converted_at, id""",  # noqa: S608
        f"""
CREATE TEMPORARY TABLE field_scope ON COMMIT DROP AS
SELECT account.id AS account_id, account.name, {_ACCOUNT_GROUP_SQL[group_by]} AS group_key
FROM {ACCOUNT} account
LEFT JOIN field_first_lead first_lead ON first_lead.account_id = account.id
WHERE (%(segment)s::text IS NULL OR account.segment = %(segment)s)
  AND (%(squad)s::bigint IS NULL OR account.squad_id = %(squad)s)""",  # noqa: S608
        f"""
CREATE TEMPORARY TABLE field_account_mrr ON COMMIT DROP AS
SELECT term.account_id,
       COALESCE(SUM(term.mrr) FILTER (WHERE term.period_start <= %(opening)s
           AND (term.period_end IS NULL OR term.period_end > %(opening)s)), 0) AS opening_mrr,
       COALESCE(SUM(term.mrr) FILTER (WHERE term.period_start <= %(closing)s
           AND (term.period_end IS NULL OR term.period_end > %(closing)s)), 0) AS closing_mrr,
       COALESCE(SUM(term.mrr) FILTER (WHERE term.period_start <= %(as_of)s
           AND (term.period_end IS NULL OR term.period_end > %(as_of)s)), 0) AS as_of_mrr,
       MIN(term.period_start) FILTER (WHERE term.mrr > 0) AS first_paid_on,
       MAX(term.period_end) FILTER (WHERE term.period_end > %(opening)s
           AND term.period_end <= %(end)s) AS last_end_in_period
FROM {SUBSCRIPTION} term
WHERE term.status = ANY(%(counting_statuses)s)
  AND {_in_scope("term")}
GROUP BY term.account_id""",  # noqa: S608
        _adoption_sql(stored=stored_adoption),
        # A small sample (3,000 rows) tells the planner these tables' sizes and spreads well
        # enough, at a fraction of the default 30,000-row sample's cost.
        "SELECT set_config('default_statistics_target', '10', true)",
        f"ANALYZE {', '.join(TEMP_TABLES)}",
        "SELECT set_config('default_statistics_target', "
        "(SELECT reset_val FROM pg_settings WHERE name = 'default_statistics_target'), true)",
    ]


def whole(parameters: FieldParameters) -> bool:
    """Every account, in one group: no segment, squad or grouping."""
    return parameters.group_by is None and parameters.segment is None and parameters.squad is None


def _in_scope(alias: str) -> str:
    """The row's account is in scope. Without a segment or squad every account is, and the
    planner drops the test (values are bound client-side, so `NOT false OR ...` folds to
    true): no join with the whole scope for nothing."""
    return f"(NOT %(scoped)s OR {alias}.account_id IN (SELECT account_id FROM field_scope))"  # noqa: S608


def adoption_reached_sql(plan: str) -> str:
    """A lateral subquery: `day`, the first day on which plan `plan`'s usage since going live
    adds up to adoption_threshold events within adoption_days days and by as_of (no row if
    none). The one definition of adoption, for the report and for the stored adoption days."""
    return f"""
    SELECT daily.day FROM (
        SELECT usage.day, SUM(SUM(usage.event_count)) OVER (ORDER BY usage.day) AS running
        FROM {USAGE_DAY} usage
        WHERE usage.account_id = {plan}.account_id
          AND usage.day >= {plan}.completed_on
          AND usage.day < {plan}.completed_on + %(adoption_days)s
          AND usage.day <= %(as_of)s
          AND (%(adoption_event)s::text IS NULL OR usage.name = %(adoption_event)s)
        GROUP BY usage.day
    ) daily
    WHERE daily.running >= %(adoption_threshold)s
    ORDER BY daily.day LIMIT 1"""  # noqa: S608


# Plans gone live from start - adoption_days to as_of, in scope.
_ADOPTION_PLANS = f"""
WHERE plan.completed_on >= %(start)s - %(adoption_days)s
  AND plan.completed_on <= %(as_of)s
  AND {_in_scope("plan")}"""

# A stored adoption day answers for a plan while it describes the plan as it is (same live
# day) and is settled: the plan adopted by the build day, or its whole window had passed by
# then. Usage only adds up, so the first day reaching the threshold by a later as_of is the
# same; by an earlier as_of it counts only if it came by then.
_SETTLED = f"""
    SELECT stored.adopted_on FROM {PLAN_ADOPTION} stored
    WHERE stored.plan_id = plan.id AND stored.live_on = plan.completed_on
      AND (stored.adopted_on IS NOT NULL
           OR stored.live_on + %(adoption_days)s - 1 <= %(adoption_built_on)s)"""  # noqa: S608


def _adoption_sql(*, stored: bool) -> str:
    """`field_adoption`: each plan gone live from start - adoption_days to as_of with its
    adoption day. With `stored` (default adoption settings and a build of the stored adoption
    days with them), settled plans read their stored day and only the others scan usage."""
    scanned = f"""
SELECT plan.id AS plan_id, plan.account_id, plan.completed_on AS live_on,
       reached.day AS adopted_on
FROM {PLAN} plan LEFT JOIN LATERAL ({adoption_reached_sql("plan")}) reached ON TRUE
{_ADOPTION_PLANS}"""  # noqa: S608
    if not stored:
        return f"CREATE TEMPORARY TABLE field_adoption ON COMMIT DROP AS {scanned}"
    return f"""
CREATE TEMPORARY TABLE field_adoption ON COMMIT DROP AS
SELECT plan.id AS plan_id, plan.account_id, plan.completed_on AS live_on,
       CASE WHEN settled.adopted_on <= %(as_of)s THEN settled.adopted_on END AS adopted_on
FROM {PLAN} plan JOIN LATERAL ({_SETTLED}) settled ON TRUE
{_ADOPTION_PLANS}
UNION ALL
{scanned}
  AND NOT EXISTS ({_SETTLED})"""  # noqa: S608


def _terms_cte() -> str:
    return f"""
terms AS (
    SELECT term.account_id, term.mrr, term.period_start, term.period_end, term.change_kind
    FROM {SUBSCRIPTION} term
    WHERE term.status = ANY(%(counting_statuses)s)
      AND {_in_scope("term")}
)"""  # noqa: S608


def _group_order(group_by: GroupBy | None) -> str:
    """Groups in their natural order: squad ids as numbers, the rest as text; null first."""
    key = "group_key::bigint" if group_by is GroupBy.SQUAD else "group_key"
    return f"{key} NULLS FIRST"


def _days(later: str, earlier: str) -> str:
    """Days between two timestamps, as a fraction."""
    return f"(EXTRACT(EPOCH FROM ({later}) - ({earlier})) / 86400)::numeric"


def _utc_day(column: str) -> str:
    return f"(({column}) AT TIME ZONE 'UTC')::date"


# --- the funnel -----------------------------------------------------------------------------


def _events_cte(group_by: GroupBy | None, *, whole: bool = False) -> str:
    """`events`: one row per lead, deal, plan, term or account reaching a step in the period.

    `whole` (no segment, squad or grouping): every account is in scope and in the one group,
    so no branch joins the scope (each such join hashes every account)."""
    lead_group = _LEAD_GROUP_SQL[group_by]
    scope = "" if whole else "JOIN field_scope scope USING (account_id)"
    group = "NULL::text" if whole else "scope.group_key"
    lead_scope = (
        ""
        if whole
        else "LEFT JOIN field_scope scope ON scope.account_id = lead.converted_account_id"
    )
    lead_in_scope = "" if whole else "AND (NOT %(scoped)s OR scope.account_id IS NOT NULL)"
    converted_scope = (
        "" if whole else "JOIN field_scope scope ON scope.account_id = lead.converted_account_id"
    )
    return f"""
events (step, entity_id, account_id, group_key, days, amount, on_time, moved_mrr) AS (
    SELECT 'lead', lead.id, lead.converted_account_id, {lead_group},
           NULL::numeric, NULL::numeric, NULL::boolean, NULL::numeric
    FROM {LEAD} lead {lead_scope}
    WHERE lead.created_at >= %(start_at)s AND lead.created_at < %(end_at)s {lead_in_scope}
    UNION ALL
    SELECT 'converted', lead.id, lead.converted_account_id, {lead_group},
           CASE WHEN lead.converted_at >= lead.created_at
                THEN {_days("lead.converted_at", "lead.created_at")} END, NULL, NULL, NULL
    FROM {LEAD} lead {converted_scope}
    WHERE lead.converted_account_id IS NOT NULL
      AND lead.converted_at >= %(start_at)s AND lead.converted_at < %(end_at)s
    UNION ALL
    SELECT 'opportunity_created', deal.id, deal.account_id, {group},
           CASE WHEN first_lead.converted_at <= deal.created_at
                THEN {_days("deal.created_at", "first_lead.converted_at")} END,
           deal.amount, NULL, NULL
    FROM {OPPORTUNITY} deal {scope}
    LEFT JOIN field_first_lead first_lead USING (account_id)
    WHERE deal.kind = 'new' AND deal.created_at >= %(start_at)s AND deal.created_at < %(end_at)s
    UNION ALL
    SELECT CASE deal.status WHEN 'won' THEN 'won' ELSE '_lost' END, deal.id, deal.account_id,
           {group}, (deal.close_date - {_utc_day("deal.created_at")})::numeric,
           deal.amount, NULL, NULL
    FROM {OPPORTUNITY} deal {scope}
    WHERE deal.kind = 'new' AND deal.status IN ('won', 'lost')
      AND deal.close_date >= %(start)s AND deal.close_date < %(end)s
    UNION ALL
    SELECT 'onboarding_started', plan.id, plan.account_id, {group},
           (plan.started_on - deal.close_date)::numeric, NULL, NULL, NULL
    FROM {PLAN} plan {scope}
    LEFT JOIN LATERAL (
        SELECT close_date FROM {OPPORTUNITY} won
        WHERE won.account_id = plan.account_id AND won.kind = 'new' AND won.status = 'won'
          AND won.close_date <= plan.started_on + {ONBOARDING_GRACE_DAYS}
        ORDER BY won.close_date DESC LIMIT 1
    ) deal ON TRUE
    WHERE plan.started_on >= %(start)s AND plan.started_on < %(end)s
    UNION ALL
    SELECT 'live', plan.id, plan.account_id, {group},
           (plan.completed_on - plan.started_on)::numeric, NULL,
           plan.completed_on <= plan.target_live_on, NULL
    FROM {PLAN} plan {scope}
    WHERE plan.completed_on >= %(start)s AND plan.completed_on < %(end)s
    UNION ALL
    (SELECT DISTINCT ON (adoption.account_id)
            'adopted', adoption.account_id, adoption.account_id, {group},
            (adoption.adopted_on - adoption.live_on)::numeric, NULL, NULL, NULL
     FROM field_adoption adoption {scope}
     WHERE adoption.adopted_on >= %(start)s AND adoption.adopted_on < %(end)s
     ORDER BY adoption.account_id, adoption.adopted_on)
    UNION ALL
    SELECT 'renewed', term.account_id, term.account_id, {group},
           (term.period_start - account_mrr.first_paid_on)::numeric, NULL, NULL, term.mrr
    FROM terms term {scope}
    JOIN field_account_mrr account_mrr USING (account_id)
    WHERE term.change_kind = 'renewal' AND term.mrr > 0
      AND term.period_start >= %(start)s AND term.period_start < %(end)s
    UNION ALL
    SELECT movement.step, account_mrr.account_id, account_mrr.account_id, {group},
           (CASE WHEN movement.step = 'churned' THEN account_mrr.last_end_in_period
                 ELSE %(closing)s END - account_mrr.first_paid_on)::numeric,
           NULL, NULL, movement.mrr
    FROM field_account_mrr account_mrr {scope}
    CROSS JOIN LATERAL (
        SELECT CASE
            WHEN opening_mrr > 0 AND closing_mrr > opening_mrr THEN 'expanded'
            WHEN closing_mrr > 0 AND closing_mrr < opening_mrr THEN 'contracted'
            WHEN opening_mrr > 0 AND closing_mrr = 0 THEN 'churned'
        END AS step,
        CASE WHEN closing_mrr = 0 THEN opening_mrr ELSE ABS(closing_mrr - opening_mrr) END AS mrr
    ) movement
    WHERE movement.step IS NOT NULL
)"""  # noqa: S608


def _funnel_sql(group_by: GroupBy | None, *, whole: bool = False) -> str:
    grouping = "GROUPING SETS ((step), (step, group_key))" if group_by else "step"
    is_total = "GROUPING(group_key) <> 0" if group_by else "TRUE"
    group_column = "group_key" if group_by else "NULL::text"
    steps_values = ", ".join(
        f"('{key}', {position})" for position, key in enumerate(STEP_KEYS, start=1)
    )
    return f"""
WITH {_terms_cte()},
{_events_cte(group_by, whole=whole)},
step_accounts AS (
    -- Each account once per step and group, however many rows it has there: a hash
    -- aggregate, cheaper than numbering every row.
    SELECT DISTINCT step, group_key, account_id FROM events WHERE account_id IS NOT NULL
),
account_sums AS (
    SELECT step, {is_total} AS is_total, {group_column} AS group_key,
           COUNT(*) AS accounts, SUM(COALESCE(account_mrr.closing_mrr, 0)) AS closing_mrr,
           SUM(account_value.clv) AS equity, MAX(account_value.as_of) AS equity_as_of
    FROM step_accounts LEFT JOIN field_account_mrr account_mrr USING (account_id)
    LEFT JOIN {ACCOUNT_VALUE} account_value USING (account_id)
    GROUP BY {grouping}
),
sums AS (
    SELECT events.step, {is_total} AS is_total, {group_column} AS group_key,
           COUNT(*) AS count,
           ROUND(percentile_cont(0.5) WITHIN GROUP (ORDER BY days)::numeric, 1) AS median_days,
           SUM(moved_mrr) AS moved_mrr, SUM(amount) AS amount,
           ROUND(AVG(on_time::int), 4) AS on_time_rate
    FROM events
    GROUP BY {grouping}
),
groups AS (
    SELECT DISTINCT is_total, group_key FROM sums
    UNION SELECT TRUE, NULL
),
grid AS (
    SELECT groups.is_total, groups.group_key, steps.step, steps.position,
           COALESCE(sums.count, 0) AS count, COALESCE(account_sums.accounts, 0) AS accounts,
           sums.median_days, sums.amount, sums.on_time_rate,
           CASE WHEN steps.step IN ('renewed', 'expanded', 'contracted', 'churned')
                THEN sums.moved_mrr ELSE account_sums.closing_mrr END AS mrr,
           COALESCE(lost.count, 0) AS lost,
           account_sums.equity, account_sums.equity_as_of
    FROM groups
    CROSS JOIN (VALUES {steps_values}) AS steps (step, position)
    LEFT JOIN sums ON sums.step = steps.step AND sums.is_total = groups.is_total
         AND sums.group_key IS NOT DISTINCT FROM groups.group_key
    LEFT JOIN account_sums ON account_sums.step = steps.step
         AND account_sums.is_total = groups.is_total
         AND account_sums.group_key IS NOT DISTINCT FROM groups.group_key
    LEFT JOIN sums lost ON lost.step = '_lost' AND lost.is_total = groups.is_total
         AND lost.group_key IS NOT DISTINCT FROM groups.group_key
)
SELECT is_total, group_key, step, count, accounts,
       ROUND(count::numeric / NULLIF(LAG(count) OVER (
           PARTITION BY is_total, group_key ORDER BY position), 0), 4) AS conversion,
       median_days,
       CASE WHEN step = 'lead' THEN NULL ELSE COALESCE(mrr, 0) END,
       CASE WHEN step IN ('opportunity_created', 'won') THEN COALESCE(amount, 0) END,
       CASE WHEN step = 'won' THEN ROUND(count::numeric / NULLIF(count + lost, 0), 4) END,
       CASE WHEN step = 'live' THEN on_time_rate END,
       CASE WHEN step = 'lead' THEN NULL ELSE COALESCE(equity, 0) END,
       CASE WHEN step = 'lead' THEN NULL ELSE equity_as_of END
FROM grid
ORDER BY is_total DESC, {_group_order(group_by)}, position
"""  # noqa: S608


def _step_accounts_sql(group_by: GroupBy | None, *, whole: bool = False) -> str:
    return f"""
WITH {_terms_cte()},
{_events_cte(group_by, whole=whole)}
SELECT DISTINCT account_id FROM events
WHERE step = %(step)s AND account_id IS NOT NULL
  AND (NOT %(in_group)s OR group_key IS NOT DISTINCT FROM %(group_key)s::text)
ORDER BY account_id
"""  # noqa: S608


# --- cohorts ----------------------------------------------------------------------------------

COHORT_STEPS = (
    "converted",
    "won",
    "onboarding_started",
    "live",
    "adopted",
    "renewed",
    "expanded",
    "contracted",
    "churned",
)


def _cohort_reached_cte() -> str:
    """`reached`: each account acquired in the period with the cohort steps it reached."""
    return f"""{_terms_cte()},
cohort AS (
    SELECT account_mrr.account_id, scope.group_key,
           date_trunc('month', account_mrr.first_paid_on)::date AS month,
           account_mrr.first_paid_on, account_mrr.as_of_mrr
    FROM field_account_mrr account_mrr JOIN field_scope scope USING (account_id)
    WHERE account_mrr.first_paid_on >= %(start)s AND account_mrr.first_paid_on < %(end)s
      AND account_mrr.first_paid_on <= %(as_of)s
),
starting AS (
    SELECT cohort.account_id, SUM(term.mrr) AS starting_mrr
    FROM cohort JOIN terms term ON term.account_id = cohort.account_id
     AND term.period_start <= cohort.first_paid_on
     AND (term.period_end IS NULL OR term.period_end > cohort.first_paid_on)
    GROUP BY cohort.account_id
),
adopting AS (
    SELECT account_id, bool_or(adopted_on IS NOT NULL) AS adopted
    FROM field_adoption adoption GROUP BY account_id
),
reached AS (
    -- Joins and EXISTS on the indexed tables, never correlated scans of a CTE.
    SELECT cohort.*, starting.starting_mrr,
           COALESCE(first_lead.converted_at < %(as_of_end_at)s, FALSE) AS converted,
           EXISTS (SELECT FROM {OPPORTUNITY} deal WHERE deal.account_id = cohort.account_id
                   AND deal.kind = 'new' AND deal.status = 'won'
                   AND deal.close_date <= %(as_of)s) AS won,
           EXISTS (SELECT FROM {PLAN} plan WHERE plan.account_id = cohort.account_id
                   AND plan.started_on <= %(as_of)s) AS onboarding_started,
           adopting.account_id IS NOT NULL AS live,
           COALESCE(adopting.adopted, FALSE) AS adopted,
           EXISTS (SELECT FROM {SUBSCRIPTION} term WHERE term.account_id = cohort.account_id
                   AND term.status = ANY(%(counting_statuses)s)
                   AND term.change_kind = 'renewal' AND term.mrr > 0
                   AND term.period_start <= %(as_of)s) AS renewed
    FROM cohort JOIN starting USING (account_id)
    LEFT JOIN field_first_lead first_lead USING (account_id)
    LEFT JOIN adopting USING (account_id)
)
"""  # noqa: S608


def _cohorts_sql(group_by: GroupBy | None) -> str:
    grouping = "GROUPING SETS ((month), (month, group_key))" if group_by else "month"
    is_total = "GROUPING(group_key) <> 0" if group_by else "TRUE"
    group_column = "group_key" if group_by else "NULL::text"
    return f"""
WITH {_cohort_reached_cte()}
SELECT month, {is_total} AS is_total, {group_column} AS group_key,
       COUNT(*), SUM(starting_mrr), SUM(as_of_mrr),
       ROUND(SUM(as_of_mrr) / NULLIF(SUM(starting_mrr), 0), 4),
       ROUND(COUNT(*) FILTER (WHERE as_of_mrr > 0)::numeric / COUNT(*), 4),
       COUNT(*) FILTER (WHERE converted), SUM(as_of_mrr) FILTER (WHERE converted),
       COUNT(*) FILTER (WHERE won), SUM(as_of_mrr) FILTER (WHERE won),
       COUNT(*) FILTER (WHERE onboarding_started),
       SUM(as_of_mrr) FILTER (WHERE onboarding_started),
       COUNT(*) FILTER (WHERE live), SUM(as_of_mrr) FILTER (WHERE live),
       COUNT(*) FILTER (WHERE adopted), SUM(as_of_mrr) FILTER (WHERE adopted),
       COUNT(*) FILTER (WHERE renewed), SUM(as_of_mrr) FILTER (WHERE renewed),
       COUNT(*) FILTER (WHERE as_of_mrr > starting_mrr AND starting_mrr > 0),
       SUM(as_of_mrr - starting_mrr) FILTER (WHERE as_of_mrr > starting_mrr
                                             AND starting_mrr > 0),
       COUNT(*) FILTER (WHERE as_of_mrr > 0 AND as_of_mrr < starting_mrr),
       SUM(starting_mrr - as_of_mrr) FILTER (WHERE as_of_mrr > 0 AND as_of_mrr < starting_mrr),
       COUNT(*) FILTER (WHERE as_of_mrr = 0),
       SUM(starting_mrr) FILTER (WHERE as_of_mrr = 0)
FROM reached
GROUP BY {grouping}
ORDER BY month, is_total DESC, {_group_order(group_by)}
"""  # noqa: S608


# --- leakage --------------------------------------------------------------------------------


def _leaks_cte() -> str:
    """`leaks`: every row lost at a step (LEAK_DEFINITIONS), with its reason where recorded."""
    return f"""{_terms_cte()},
leaks (step, kind, id, account_id, mrr, amount, reason) AS (
    SELECT 'converted', 'lead', lead.id, NULL::bigint, NULL::numeric, NULL::numeric,
           lead.status::text
    FROM {LEAD} lead
    WHERE lead.created_at >= %(start_at)s AND lead.created_at < %(end_at)s
      AND NOT %(scoped)s
      AND (lead.converted_at IS NULL OR lead.converted_at >= %(as_of_end_at)s)
    UNION ALL
    SELECT DISTINCT 'opportunity_created', 'account', lead.converted_account_id,
           lead.converted_account_id, NULL::numeric, NULL::numeric, ''
    FROM {LEAD} lead JOIN field_scope scope ON scope.account_id = lead.converted_account_id
    WHERE lead.converted_at >= %(start_at)s AND lead.converted_at < %(end_at)s
      AND NOT EXISTS (
          SELECT FROM {OPPORTUNITY} deal WHERE deal.account_id = lead.converted_account_id
          AND deal.kind = 'new' AND deal.created_at < %(as_of_end_at)s)
    UNION ALL
    SELECT 'won', 'opportunity', deal.id, deal.account_id, NULL, deal.amount,
           deal.loss_reason
    FROM {OPPORTUNITY} deal
    WHERE deal.kind = 'new' AND deal.status = 'lost'
      AND {_in_scope("deal")}
      AND deal.created_at >= %(start_at)s AND deal.created_at < %(end_at)s
      AND (deal.close_date IS NULL OR deal.close_date <= %(as_of)s)
    UNION ALL
    SELECT 'onboarding_started', 'opportunity', deal.id, deal.account_id, NULL, deal.amount, ''
    FROM {OPPORTUNITY} deal
    WHERE deal.kind = 'new' AND deal.status = 'won'
      AND {_in_scope("deal")}
      AND deal.close_date >= %(start)s AND deal.close_date < %(end)s
      AND NOT EXISTS (
          SELECT FROM {PLAN} plan WHERE plan.account_id = deal.account_id
          AND plan.started_on >= deal.close_date - {ONBOARDING_GRACE_DAYS}
          AND plan.started_on <= %(as_of)s)
    UNION ALL
    SELECT 'live', 'onboarding_plan', plan.id, plan.account_id, NULL, NULL,
           CASE WHEN plan.target_live_on < %(as_of)s THEN 'past target' ELSE 'in progress' END
    FROM {PLAN} plan
    WHERE plan.started_on >= %(start)s AND plan.started_on < %(end)s
      AND {_in_scope("plan")}
      AND (plan.completed_on IS NULL OR plan.completed_on > %(as_of)s)
    UNION ALL
    SELECT 'adopted', 'account', adoption.account_id, adoption.account_id, NULL, NULL, ''
    FROM field_adoption adoption
    WHERE adoption.live_on >= %(start)s AND adoption.live_on < %(end)s
    GROUP BY adoption.account_id
    HAVING bool_and(adoption.adopted_on IS NULL)
       AND MAX(adoption.live_on) + %(adoption_days)s <= %(as_of)s
    UNION ALL
    SELECT 'contracted', 'account', account_id, account_id,
           opening_mrr - closing_mrr, NULL, ''
    FROM field_account_mrr account_mrr WHERE closing_mrr > 0 AND closing_mrr < opening_mrr
    UNION ALL
    SELECT 'churned', 'account', account_mrr.account_id, account_mrr.account_id,
           account_mrr.opening_mrr, NULL,
           COALESCE(lost.loss_reason, '')
    FROM field_account_mrr account_mrr
    LEFT JOIN LATERAL (
        SELECT NULLIF(deal.loss_reason, '') AS loss_reason FROM {OPPORTUNITY} deal
        WHERE deal.account_id = account_mrr.account_id AND deal.kind = 'renewal'
          AND deal.status = 'lost'
          AND deal.close_date >= %(start)s - {CHURN_REASON_LOOKBACK_DAYS}
          AND deal.close_date < %(end)s
        ORDER BY deal.close_date DESC LIMIT 1
    ) lost ON TRUE
    WHERE account_mrr.opening_mrr > 0 AND account_mrr.closing_mrr = 0
)
"""  # noqa: S608


def _leakage_sql() -> str:
    return f"""
WITH {_leaks_cte()},
valued AS (
    -- Back-half accounts without a recorded reason: their latest poor survey response in the
    -- lookback window names the moment, else a heavy ticket load there.
    SELECT leaks.step, leaks.kind, leaks.id, leaks.account_id, leaks.amount,
           CASE WHEN leaks.reason <> '' OR leaks.step NOT IN {BACK_HALF_LEAKS}
                THEN leaks.reason
                ELSE COALESCE(
                    (SELECT 'poor ' || COALESCE(NULLIF(response.moment, ''), '(none)')
                            || ' response'
                     FROM {SURVEY} response
                     WHERE response.account_id = leaks.account_id
                       AND {_poor_response_sql("response")}
                       AND response.responded_at >= %(lookback_at)s
                       AND response.responded_at < %(as_of_end_at)s
                     ORDER BY response.responded_at DESC LIMIT 1),
                    (SELECT 'ticket load: ' || COUNT(*) || ' tickets'
                     FROM {TICKET} ticket
                     WHERE ticket.account_id = leaks.account_id
                       AND ticket.opened_at >= %(lookback_at)s
                       AND ticket.opened_at < %(as_of_end_at)s
                     HAVING COUNT(*) >= {TICKET_LOAD_MIN}),
                    '')
           END AS reason,
           CASE WHEN leaks.step = 'converted' THEN NULL
                ELSE COALESCE(leaks.mrr, account_mrr.closing_mrr, 0) END AS mrr
    FROM leaks LEFT JOIN field_account_mrr account_mrr USING (account_id)
),
totals AS (
    SELECT step, COUNT(*) AS count, COUNT(DISTINCT account_id) AS accounts,
           SUM(mrr) AS mrr, SUM(amount) AS amount
    FROM valued GROUP BY step
),
reasons AS (
    SELECT step, reason, COUNT(*) AS count, SUM(mrr) AS mrr, SUM(amount) AS amount,
           row_number() OVER (PARTITION BY step ORDER BY COUNT(*) DESC, reason) AS rank
    FROM valued WHERE reason <> '' GROUP BY step, reason
),
top_rows AS (
    SELECT valued.*, row_number() OVER (
        PARTITION BY step ORDER BY COALESCE(amount, 0) + COALESCE(mrr, 0) DESC, id) AS rank
    FROM valued
)
SELECT 'total', step, NULL::text, NULL::bigint, NULL::bigint, NULL::text, NULL::text, count,
       accounts, mrr, amount, NULL::bigint
FROM totals
UNION ALL
SELECT 'reason', step, NULL, NULL, NULL, NULL, reason, count, NULL, mrr, amount, rank
FROM reasons WHERE rank <= 5
UNION ALL
SELECT 'row', step, kind, top_rows.id, top_rows.account_id, scope.name, reason, NULL, NULL,
       mrr, amount, rank
FROM top_rows LEFT JOIN field_scope scope USING (account_id) WHERE rank <= %(leak_limit)s
ORDER BY 1, 2, 12
"""  # noqa: S608


# --- moments that matter ------------------------------------------------------------------


def _moments_sql() -> str:
    return f"""
WITH {_terms_cte()},
responses AS (
    SELECT response.account_id, response.kind, response.score,
           COALESCE(NULLIF(response.moment, ''), '(none)') AS moment,
           {_utc_day("response.responded_at")} AS day,
           date_trunc('month', {_utc_day("response.responded_at")})::date AS month,
           {_poor_response_sql("response")} AS poor
    FROM {SURVEY} response
    WHERE response.responded_at >= %(start_at)s AND response.responded_at < %(end_at)s
      AND {_in_scope("response")}
),
monthly AS (
    -- One pass over the responses, per moment and month; the moment's figures add these up
    -- (sums and counts, so its averages are exactly those of its responses).
    SELECT moment, month, COUNT(*) AS responses, COUNT(*) FILTER (WHERE poor) AS poor,
           SUM(score) FILTER (WHERE kind = 'csat') AS csat_sum,
           COUNT(*) FILTER (WHERE kind = 'csat') AS csat_count,
           SUM(score) FILTER (WHERE kind = 'ces') AS ces_sum,
           COUNT(*) FILTER (WHERE kind = 'ces') AS ces_count,
           SUM(score) FILTER (WHERE kind = 'nps') AS nps_sum,
           COUNT(*) FILTER (WHERE kind = 'nps' AND score >= 9) AS promoters,
           COUNT(*) FILTER (WHERE kind = 'nps' AND score <= 6) AS detractors,
           COUNT(*) FILTER (WHERE kind = 'nps') AS nps_count
    FROM responses GROUP BY moment, month
),
all_scores AS (
    SELECT moment, month, GROUPING(month) <> 0 AS is_total,
           SUM(responses)::bigint AS responses, SUM(poor)::bigint AS poor_responses,
           ROUND(SUM(csat_sum) / NULLIF(SUM(csat_count), 0), 2) AS csat,
           ROUND(SUM(ces_sum) / NULLIF(SUM(ces_count), 0), 2) AS ces,
           ROUND(100.0 * (SUM(promoters) - SUM(detractors)) / NULLIF(SUM(nps_count), 0), 1)
               AS nps,
           ROUND(SUM(nps_sum) / NULLIF(SUM(nps_count), 0), 2) AS nps_average
    FROM monthly
    GROUP BY GROUPING SETS ((moment), (moment, month))
),
scores AS (SELECT * FROM all_scores WHERE is_total),
trend AS (SELECT * FROM all_scores WHERE NOT is_total),
respondents AS (
    -- Each account once per moment: poor if any response there was poor, measured from its
    -- first poor response; otherwise from its first response.
    SELECT moment, account_id, bool_or(poor) AS poor,
           COALESCE(MIN(day) FILTER (WHERE poor), MIN(day)) AS since
    FROM responses GROUP BY moment, account_id
),
followed AS (
    SELECT respondents.moment, respondents.account_id, respondents.poor,
           COALESCE(SUM(term.mrr), 0) AS since_mrr,
           COALESCE(MAX(account_mrr.as_of_mrr), 0) AS as_of_mrr
    FROM respondents
    LEFT JOIN terms term ON term.account_id = respondents.account_id
     AND term.period_start <= respondents.since
     AND (term.period_end IS NULL OR term.period_end > respondents.since)
    LEFT JOIN field_account_mrr account_mrr ON account_mrr.account_id = respondents.account_id
    GROUP BY respondents.moment, respondents.account_id, respondents.poor
),
compared AS (
    SELECT moment, poor, COUNT(*) AS accounts,
           COUNT(*) FILTER (WHERE since_mrr > 0) AS paying,
           ROUND(COUNT(*) FILTER (WHERE since_mrr > 0 AND as_of_mrr = 0)::numeric
                 / NULLIF(COUNT(*) FILTER (WHERE since_mrr > 0), 0), 4) AS churn_rate,
           ROUND(SUM(as_of_mrr) FILTER (WHERE since_mrr > 0)
                 / NULLIF(SUM(since_mrr), 0), 4) AS nrr
    FROM followed GROUP BY moment, poor
)
SELECT 'moment', scores.moment, NULL::date, scores.responses, scores.poor_responses,
       scores.csat, scores.ces, scores.nps, scores.nps_average,
       poor.accounts, poor.paying, poor.churn_rate, poor.nrr,
       rest.accounts, rest.paying, rest.churn_rate, rest.nrr
FROM scores
LEFT JOIN compared poor ON poor.moment = scores.moment AND poor.poor
LEFT JOIN compared rest ON rest.moment = scores.moment AND NOT rest.poor
UNION ALL
SELECT 'month', moment, month, responses, NULL, csat, ces, nps, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM trend
ORDER BY 1 DESC, 4 DESC, 2, 3
"""  # noqa: S608


# --- currency check ---------------------------------------------------------------------------


def _foreign_currency_sql() -> str:
    return f"""
WITH {_terms_cte()}
SELECT currency, COUNT(*) FROM (
    SELECT term.currency FROM {SUBSCRIPTION} term
    WHERE term.status = ANY(%(counting_statuses)s) AND term.currency <> %(currency)s
      AND {_in_scope("term")}
      AND daterange(term.period_start, term.period_end)
          && daterange(%(opening)s::date, GREATEST(%(as_of)s, %(closing)s)::date, '[]')
    UNION ALL
    SELECT deal.currency FROM {OPPORTUNITY} deal
    WHERE deal.kind = 'new' AND deal.currency <> %(currency)s
      AND {_in_scope("deal")}
      AND ((deal.close_date >= %(start)s AND deal.close_date < %(end)s)
           OR (deal.created_at >= %(start_at)s AND deal.created_at < %(end_at)s))
) foreign_money
GROUP BY currency ORDER BY COUNT(*) DESC, currency
"""  # noqa: S608


def _refuse_foreign_currency(rows: Sequence[tuple[str, int]], *, currency: str) -> None:
    if not rows:
        return
    counts = [f"{count} in {foreign}" for foreign, count in rows]
    total = sum(count for _, count in rows)
    records = "record" if total == 1 else "records"
    raise MixedCurrencyError(
        f"{total} subscription or opportunity {records} in scope of these field metrics "
        f"{'is' if total == 1 else 'are'} not in the tenant's currency {currency} "
        f"({', '.join(counts)}). Amounts in different currencies are never summed: correct or "
        f"convert those records to {currency}.",
        fields={"currency": counts},
    )


# --- assembling ---------------------------------------------------------------------------


def _at(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _params(parameters: FieldParameters, currency: str) -> dict[str, Any]:
    period = parameters.period
    return {
        "start": period.start,
        "end": period.end,
        "opening": period.opening_date,
        "closing": period.closing_date,
        "start_at": _at(period.start),
        "end_at": _at(period.end),
        "as_of": parameters.as_of,
        "as_of_end_at": _at(parameters.as_of + timedelta(days=1)),
        "lookback_at": _at(period.start - timedelta(days=CHURN_REASON_LOOKBACK_DAYS)),
        "segment": parameters.segment,
        "squad": parameters.squad,
        "scoped": parameters.segment is not None or parameters.squad is not None,
        "counting_statuses": COUNTING_STATUSES,
        "currency": currency,
        "adoption_threshold": parameters.adoption_threshold,
        "adoption_days": parameters.adoption_days,
        "adoption_event": parameters.adoption_event,
        "adoption_built_on": None,
        "adoption_as_of": None,
        "leak_limit": parameters.leak_limit,
    }


def _group_key(raw: str | None, group_by: GroupBy | None) -> str | int | None:
    if raw is not None and group_by is GroupBy.SQUAD:
        return int(raw)
    return raw


def _run(cursor: Any, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    cursor.execute(sql, params)
    return list(cursor.fetchall())


def _funnel(rows: list[tuple[Any, ...]], group_by: GroupBy | None) -> Funnel:
    definitions = {step.key: step for step in STEP_DEFINITIONS}
    totals: list[StepFigures] = []
    grouped: dict[str | None, list[StepFigures]] = {}
    for is_total, raw_key, step, *values in rows:
        definition = definitions[step]
        count, accounts, conversion, median, mrr, amount, win_rate, on_time, equity, valued = values
        figures = StepFigures(
            key=step,
            half=definition.half.value,
            label=definition.label,
            count=count,
            accounts=accounts,
            conversion=conversion,
            median_days_in_step=median,
            mrr=mrr,
            amount=amount,
            win_rate=win_rate,
            on_time_rate=on_time,
            equity=equity,
            equity_as_of=valued,
        )
        if is_total:
            totals.append(figures)
        else:
            grouped.setdefault(raw_key, []).append(figures)
    groups = [
        FunnelGroup(key=_group_key(raw_key, group_by), steps=steps)
        for raw_key, steps in grouped.items()
    ]
    return Funnel(steps=totals, groups=groups if group_by else [])


def _cohorts(rows: list[tuple[Any, ...]], group_by: GroupBy | None) -> list[Cohort]:
    cohorts = []
    for month, _is_total, raw_key, accounts, starting, as_of_mrr, nrr, retention, *steps in rows:
        counts = steps[0::2]
        mrrs = steps[1::2]
        cohorts.append(
            Cohort(
                month=month,
                group_key=_group_key(raw_key, group_by),
                accounts=accounts,
                starting_mrr=starting,
                mrr_as_of=as_of_mrr,
                net_revenue_retention=nrr,
                logo_retention=retention,
                steps=[
                    CohortStep(
                        key=key,
                        count=count,
                        share=round(Decimal(count) / accounts, 4) if accounts else None,
                        mrr=mrr if mrr is not None else Decimal("0.00"),
                    )
                    for key, count, mrr in zip(COHORT_STEPS, counts, mrrs, strict=True)
                ],
            )
        )
    return cohorts


def _leakage(rows: list[tuple[Any, ...]]) -> list[Leak]:
    totals: dict[str, tuple[Any, ...]] = {}
    reasons: dict[str, list[LeakReason]] = {}
    leak_rows: dict[str, list[LeakRow]] = {}
    for (
        kind,
        step,
        row_kind,
        row_id,
        account_id,
        name,
        reason,
        count,
        accounts,
        mrr,
        amount,
        _,
    ) in rows:
        if kind == "total":
            totals[step] = (count, accounts, mrr, amount)
        elif kind == "reason":
            reasons.setdefault(step, []).append(LeakReason(reason, count, mrr, amount))
        else:
            leak_rows.setdefault(step, []).append(
                LeakRow(
                    kind=row_kind,
                    id=row_id,
                    account_id=account_id,
                    account_name=name,
                    mrr=mrr,
                    amount=amount,
                    reason=reason,
                )
            )
    leaks = []
    for step, definition in LEAK_DEFINITIONS.items():
        count, accounts, mrr, amount = totals.get(step, (0, 0, None, None))
        leaks.append(
            Leak(
                step=step,
                definition=definition,
                count=count,
                accounts=accounts,
                mrr=None if step == "converted" else (mrr if mrr is not None else Decimal(0)),
                amount=amount if step in ("won", "onboarding_started") else None,
                reasons=reasons.get(step, []),
                rows=leak_rows.get(step, []),
            )
        )
    return leaks


def _moments(rows: list[tuple[Any, ...]]) -> list[Moment]:
    trends: dict[str, list[MomentMonth]] = {}
    moment_rows = []
    for row in rows:
        if row[0] == "month":
            _, moment, month, responses, _, csat, ces, nps, *_ = row
            trends.setdefault(moment, []).append(MomentMonth(month, responses, csat, ces, nps))
        else:
            moment_rows.append(row)
    moments = []
    for row in moment_rows:
        _, moment, _, responses, poor_responses, csat, ces, nps, nps_average, *compared = row
        poor, rest = compared[:4], compared[4:]
        moments.append(
            Moment(
                moment=moment,
                responses=responses,
                poor_responses=poor_responses,
                csat=csat,
                ces=ces,
                nps=nps,
                nps_average=nps_average,
                trend=trends.get(moment, []),
                poor=RetentionComparison(poor[0] or 0, poor[1] or 0, poor[2], poor[3]),
                rest=RetentionComparison(rest[0] or 0, rest[1] or 0, rest[2], rest[3]),
            )
        )
    return moments


def field_parameters_check(parameters: FieldParameters) -> None:
    """Refuse what the SQL would not answer sensibly (the API validates the same first)."""
    period = parameters.period
    if period.end > add_months(period.start, MAX_PERIOD_MONTHS):
        raise DomainError(
            f"A field report covers at most {MAX_PERIOD_MONTHS} months.",
            fields={"end": [f"More than {MAX_PERIOD_MONTHS} months after start {period.start}."]},
        )
    if parameters.as_of < period.start:
        raise DomainError(
            "as_of must not come before the period.",
            fields={"as_of": [f"{parameters.as_of} is before start {period.start}."]},
        )


def stored_adoption_build(parameters: FieldParameters) -> PlanAdoptionBuild | None:
    """The build of stored adoption days this report may read: only at the default adoption
    settings, and only if built with them. A report that finds no build asks for one."""
    if (
        parameters.adoption_threshold != DEFAULT_ADOPTION_THRESHOLD
        or parameters.adoption_days != DEFAULT_ADOPTION_DAYS
        or parameters.adoption_event is not None
    ):
        return None
    build = PlanAdoptionBuild.objects.first()
    if build is None:
        from apps.accounts.field.adoption import plan_adoption_request

        plan_adoption_request()
        return None
    if build.threshold != DEFAULT_ADOPTION_THRESHOLD or build.window_days != DEFAULT_ADOPTION_DAYS:
        return None
    return build


@contextlib.contextmanager
def _reading(parameters: FieldParameters) -> Iterator[tuple[Any, dict[str, Any]]]:
    """A cursor in a transaction tuned for these aggregates, after the currency check."""
    field_parameters_check(parameters)
    currency = current_tenant().currency
    params = _params(parameters, currency)
    with transaction.atomic(), connection.cursor() as cursor:
        # As for the revenue metrics: JIT compiling costs far more than running these
        # aggregates, and a larger work_mem keeps them in memory. Both settings are
        # transaction-local and put back afterwards, in case a caller's transaction goes on.
        cursor.execute(
            "SELECT current_setting('jit'), current_setting('work_mem'), "
            "set_config('jit', 'off', true), set_config('work_mem', '64MB', true)"
        )
        previous_jit, previous_work_mem, _, _ = cursor.fetchone() or ("on", "4MB", None, None)
        build = stored_adoption_build(parameters)
        if build is not None:
            params["adoption_built_on"] = build.built_on
            params["adoption_as_of"] = build.built_at
        for statement in _prepare_sql(parameters.group_by, stored_adoption=build is not None):
            cursor.execute(statement, params)
        _refuse_foreign_currency(_run(cursor, _foreign_currency_sql(), params), currency=currency)
        yield cursor, params
        cursor.execute(f"DROP TABLE {', '.join(TEMP_TABLES)}")
        cursor.execute(
            "SELECT set_config('jit', %s, true), set_config('work_mem', %s, true)",
            [previous_jit, previous_work_mem],
        )


def field_funnel(*, parameters: FieldParameters) -> Funnel:
    """The period's funnel, in total and per group (STEP_DEFINITIONS)."""
    with _reading(parameters) as (cursor, params):
        rows = _run(cursor, _funnel_sql(parameters.group_by, whole=whole(parameters)), params)
    return _funnel(rows, parameters.group_by)


def field_step_account_ids(
    *, parameters: FieldParameters, step: str, group_key: str | int | None = None
) -> list[int]:
    """Ids of the accounts behind one funnel step (in one group of parameters.group_by).

    What a page links a funnel number to. Leads never converted have no account. Raises
    DomainError for an unknown step.
    """
    if step not in STEP_KEYS:
        raise DomainError(
            f"No funnel step {step!r}.",
            fields={"step": [f"Must be one of {', '.join(STEP_KEYS)}."]},
        )
    with _reading(parameters) as (cursor, params):
        params = {
            **params,
            "step": step,
            "in_group": parameters.group_by is not None,
            "group_key": None if group_key is None else str(group_key),
        }
        rows = _run(
            cursor, _step_accounts_sql(parameters.group_by, whole=whole(parameters)), params
        )
    return [account_id for (account_id,) in rows]


def field_cohorts(*, parameters: FieldParameters) -> list[Cohort]:
    """One cohort per month of first paid days in the period, followed to as_of."""
    with _reading(parameters) as (cursor, params):
        rows = _run(cursor, _cohorts_sql(parameters.group_by), params)
    return _cohorts(rows, parameters.group_by)


def field_leakage(*, parameters: FieldParameters) -> list[Leak]:
    """Per step, what was lost there: totals, top reasons and the largest rows."""
    with _reading(parameters) as (cursor, params):
        rows = _run(cursor, _leakage_sql(), params)
    return _leakage(rows)


def field_moments(*, parameters: FieldParameters) -> list[Moment]:
    """Per survey moment: scores, their monthly trend, and what became of poor responders."""
    with _reading(parameters) as (cursor, params):
        rows = _run(cursor, _moments_sql(), params)
    return _moments(rows)


COHORT_MEMBERS = "accounts"
_COHORT_REACHED = {
    COHORT_MEMBERS: "TRUE",
    "converted": "converted",
    "won": "won",
    "onboarding_started": "onboarding_started",
    "live": "live",
    "adopted": "adopted",
    "renewed": "renewed",
    "expanded": "as_of_mrr > starting_mrr AND starting_mrr > 0",
    "contracted": "as_of_mrr > 0 AND as_of_mrr < starting_mrr",
    "churned": "as_of_mrr = 0",
}


def _unknown(name: str, value: str, allowed: Sequence[str]) -> DomainError:
    return DomainError(
        f"No {name} {value!r}.", fields={name: [f"Must be one of {', '.join(allowed)}."]}
    )


def field_cohort_account_ids(
    *, parameters: FieldParameters, month: date, step: str = COHORT_MEMBERS
) -> list[int]:
    """Ids of the accounts of one cohort (first paid in `month`) that reached `step` by as_of
    (COHORT_STEPS), or all of them (`accounts`). Raises DomainError for an unknown step."""
    if step not in _COHORT_REACHED:
        raise _unknown("step", step, list(_COHORT_REACHED))
    sql = f"""
WITH {_cohort_reached_cte()}
SELECT account_id FROM reached WHERE month = %(month)s AND {_COHORT_REACHED[step]}
ORDER BY account_id
"""  # noqa: S608
    with _reading(parameters) as (cursor, params):
        rows = _run(cursor, sql, {**params, "month": month.replace(day=1)})
    return [account_id for (account_id,) in rows]


def field_leak_account_ids(*, parameters: FieldParameters, step: str) -> list[int]:
    """Ids of the accounts behind every row lost at one step (LEAK_DEFINITIONS); leads never
    converted have none. Raises DomainError for an unknown step."""
    if step not in LEAK_DEFINITIONS:
        raise _unknown("step", step, list(LEAK_DEFINITIONS))
    sql = f"""
WITH {_leaks_cte()}
SELECT DISTINCT account_id FROM leaks
WHERE step = %(step)s AND account_id IS NOT NULL ORDER BY account_id
"""  # noqa: S608
    with _reading(parameters) as (cursor, params):
        rows = _run(cursor, sql, {**params, "step": step})
    return [account_id for (account_id,) in rows]


def field_moment_account_ids(*, parameters: FieldParameters, moment: str, poor: bool) -> list[int]:
    """Ids of the accounts that responded at `moment` in the period: those with a poor response
    there (`poor`), or the rest, as the moments' comparison splits them."""
    sql = f"""
SELECT response.account_id FROM {SURVEY} response
WHERE response.responded_at >= %(start_at)s AND response.responded_at < %(end_at)s
  AND {_in_scope("response")}
  AND COALESCE(NULLIF(response.moment, ''), '(none)') = %(moment)s
GROUP BY response.account_id
HAVING bool_or({_poor_response_sql("response")}) = %(poor)s
ORDER BY response.account_id
"""  # noqa: S608
    with _reading(parameters) as (cursor, params):
        rows = _run(cursor, sql, {**params, "moment": moment, "poor": poor})
    return [account_id for (account_id,) in rows]


def field_report(*, parameters: FieldParameters) -> FieldReport:
    """The funnel, cohorts, leakage and moments of the current tenant (module docstring).

    Raises DomainError for parameters out of range and MixedCurrencyError when money in scope
    is in another currency than the tenant's.
    """
    group_by = parameters.group_by
    with _reading(parameters) as (cursor, params):
        funnel_rows = _run(cursor, _funnel_sql(group_by, whole=whole(parameters)), params)
        cohort_rows = _run(cursor, _cohorts_sql(group_by), params)
        leak_rows = _run(cursor, _leakage_sql(), params)
        moment_rows = _run(cursor, _moments_sql(), params)
    return FieldReport(
        currency=params["currency"],
        parameters=parameters,
        funnel=_funnel(funnel_rows, group_by),
        cohorts=_cohorts(cohort_rows, group_by),
        leakage=_leakage(leak_rows),
        moments=_moments(moment_rows),
        adoption_as_of=params["adoption_as_of"],
    )
