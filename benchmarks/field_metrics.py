"""Field metrics for a year on a 100,000-account tenant: seconds per report (goal <= 2 s).

fullfield benchmark field_metrics

Seeds a throwaway tenant with the project's seeder (18 months of history ending today) at
BENCH_FIELD_SEED_ACCOUNTS accounts and copies it set-based up to BENCH_FIELD_ACCOUNTS: every
table the report reads (raw usage events and touchpoints are not copied; the events' daily
rollup is, for the accounts with an onboarding plan, whose adoption the report reads it for).
Then it builds the stored adoption days (`plan_adoption_rebuild`, what the nightly task runs;
timed), then times `field_report` (funnel, cohorts, leakage and moments together, exactly what
GET /api/v1/metrics/field/ computes) for the last 365 days: at the default adoption settings
(reading the stored adoption days), grouped by segment, and at another adoption threshold
(scanning usage for every plan, as before any build), and shows where one report's time goes
(the shared preparation, then each part's query). The tenant is deleted at the end.

Knobs (environment): BENCH_FIELD_ACCOUNTS (100000), BENCH_FIELD_SEED_ACCOUNTS (2500: the seeded
histories the copies repeat; set it to BENCH_FIELD_ACCOUNTS to seed every account),
BENCH_FIELD_USAGE_SCALE (0.5: usage volume relative to the demo's), BENCH_ROUNDS (3; the best
round is reported, with the median). BENCH_FIELD_TENANT=<slug> reuses (and keeps) a tenant
already seeded by an earlier run with BENCH_FIELD_KEEP=1.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fullfield.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.accounts.field import selectors  # noqa: E402
from apps.accounts.field.adoption import plan_adoption_rebuild  # noqa: E402
from apps.accounts.field.selectors import FieldParameters, GroupBy, field_report  # noqa: E402
from apps.accounts.models import Account, Touchpoint, UsageDay, UsageEvent  # noqa: E402
from apps.accounts.revenue.periods import Period  # noqa: E402
from apps.accounts.seed.writer import SEEDED_MODELS, tenant_seed  # noqa: E402
from benchmarks._replicate import rows_replicate  # noqa: E402
from benchmarks._report import scaled  # noqa: E402
from fullfield.tenancy.context import current_tenant, use_public_schema, use_tenant  # noqa: E402
from fullfield.tenancy.models import Tenant  # noqa: E402
from fullfield.tenancy.services import tenant_create, tenant_delete  # noqa: E402

ACCOUNTS = scaled("BENCH_FIELD_ACCOUNTS", 100_000)
SEED_ACCOUNTS = min(ACCOUNTS, scaled("BENCH_FIELD_SEED_ACCOUNTS", 2_500))
USAGE_SCALE = float(os.environ.get("BENCH_FIELD_USAGE_SCALE", "0.5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
REUSE = os.environ.get("BENCH_FIELD_TENANT", "")
KEEP = os.environ.get("BENCH_FIELD_KEEP") == "1" or bool(REUSE)
GOAL_SECONDS = 2.0


def timed(run: Callable[[], object]) -> tuple[float, float]:
    """Best and median seconds over ROUNDS runs (after one warm-up run)."""
    run()
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def phases(parameters: FieldParameters) -> dict[str, float]:
    """Seconds of each statement of one report, run as field_report runs them."""
    params = selectors._params(parameters, current_tenant().currency)
    build = selectors.stored_adoption_build(parameters)
    if build is not None:
        params["adoption_built_on"] = build.built_on
    preparation = (
        "drop leftovers",
        "first lead of each account",
        "accounts in scope",
        "MRR snapshots per account",
        "adoption per live plan (stored days)",
        "small statistics sample",
        "analyze",
        "statistics sample back",
    )
    statements = [
        (f"  prepare: {name}", statement)
        for name, statement in zip(
            preparation,
            selectors._prepare_sql(parameters.group_by, stored_adoption=build is not None),
            strict=True,
        )
    ]
    statements += [
        ("  currency check", selectors._foreign_currency_sql()),
        (
            "  funnel",
            selectors._funnel_sql(parameters.group_by, whole=selectors.whole(parameters)),
        ),
        ("  cohorts", selectors._cohorts_sql(parameters.group_by)),
        ("  leakage", selectors._leakage_sql()),
        ("  moments", selectors._moments_sql()),
    ]
    seconds: dict[str, float] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '64MB'")
        for name, statement in statements:
            started = time.perf_counter()
            cursor.execute(statement, params)
            if cursor.description is not None:
                cursor.fetchall()
            seconds[name] = time.perf_counter() - started
        transaction.set_rollback(True)
    return seconds


# Seeded, but not read by the report: not copied. (The report reads events through their rollup.)
UNREAD = (UsageEvent, Touchpoint)
# The report reads usage only for accounts with an onboarding plan (adoption after go-live).
USAGE_READ = "account_id IN (SELECT account_id FROM accounts_onboardingplan)"


def generate(today: date) -> None:
    """SEED_ACCOUNTS seeded accounts, copied up to ACCOUNTS (a whole number of copies)."""
    seeded = tenant_seed(anchor=today, accounts=SEED_ACCOUNTS, usage_scale=USAGE_SCALE)
    print(f"seeded: {seeded.summary()}", flush=True)
    copies = max(1, round(ACCOUNTS / SEED_ACCOUNTS))
    if copies == 1:
        return
    started = time.perf_counter()
    tables = [model for model in SEEDED_MODELS if model not in UNREAD] + [UsageDay]
    with transaction.atomic():
        added = rows_replicate(tables, copies, only={UsageDay: USAGE_READ})
    print(
        f"copied {copies - 1} times in {time.perf_counter() - started:.1f} s: "
        + ", ".join(f"{rows:,} {table}" for table, rows in added.items()),
        flush=True,
    )


def main() -> None:
    if REUSE:
        tenant = Tenant.objects.get(slug=REUSE)
        slug = REUSE
    else:
        slug = f"benchfield{uuid.uuid4().hex[:6]}"
        tenant = tenant_create(
            slug=slug, name="Field benchmark", admin_email=f"a@{slug}.test"
        ).tenant
    today = timezone.now().date()
    try:
        use_tenant(tenant)
        if not Account.objects.exists():
            generate(today)
        accounts = Account.objects.count()
        started = time.perf_counter()
        build = plan_adoption_rebuild()
        rebuild_seconds = time.perf_counter() - started
        year = FieldParameters(
            period=Period(start=today - timedelta(days=365), end=today + timedelta(days=1)),
            as_of=today,
        )
        by_segment = FieldParameters(period=year.period, as_of=today, group_by=GroupBy.SEGMENT)
        scanning = FieldParameters(period=year.period, as_of=today, adoption_threshold=11)
        results = {
            "report (funnel + cohorts + leakage + moments)": timed(
                lambda: field_report(parameters=year)
            ),
            "report grouped by segment": timed(lambda: field_report(parameters=by_segment)),
            "report, adoption scanned (threshold 11)": timed(
                lambda: field_report(parameters=scanning)
            ),
        }
        breakdown = phases(year)
    finally:
        use_public_schema()
        if not KEEP:
            tenant_delete(slug=slug)
    print(
        f"field metrics for {year.period.start} .. {year.period.end} (as of {today}) on "
        f"{accounts:,} accounts, best / median of {ROUNDS} rounds:"
    )
    for name, (best, median) in results.items():
        print(f"  {name:<48} {best:6.2f} s / {median:6.2f} s")
    print(
        f"stored adoption days rebuilt (nightly, per tenant): {build.plans:,} plans in "
        f"{rebuild_seconds:.2f} s"
    )
    print("one report, statement by statement:")
    for name, seconds in breakdown.items():
        print(f"  {name:<48} {seconds:6.2f} s")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"  machine load average (1, 5, 15 min) at the end: {load} on {os.cpu_count()} cores")
    best = results["report (funnel + cohorts + leakage + moments)"][0]
    verdict = "meets" if best <= GOAL_SECONDS else "misses"
    print(f"  goal <= {GOAL_SECONDS:.0f} s for the whole report: {verdict} it ({best:.2f} s)")
    from benchmarks._report import report_row

    report_row(
        workload=f"field metrics report, {accounts:,} accounts",
        ours=best,
        unit="s",
        goal=GOAL_SECONDS,
        goal_on="ours",
        lower_is_better=True,
        note="best round, stored adoption days",
    )
    report_row(
        workload=f"field metrics report, adoption scanned, {accounts:,} accounts",
        ours=results["report, adoption scanned (threshold 11)"][0],
        unit="s",
        goal=GOAL_SECONDS,
        goal_on="ours",
        lower_is_better=True,
        note="best round, non-default adoption settings",
    )


if __name__ == "__main__":
    main()
