"""Health recompute: the service vs the same SQL by hand vs a per-account ORM loop; incremental
vs full; optionally a full recompute of 1,000,000 accounts.

    fullfield benchmark scoring           # 100,000 accounts, 2,000,000 events, 180 days
    BENCH_SCORING_ACCOUNTS=10000 fullfield benchmark scoring
    BENCH_SCORING_ACCOUNTS_LARGE=1000000 fullfield benchmark scoring   # adds the 1M row

Data is generated with set-based SQL (generate_series) straight into a fresh tenant's tables:
accounts, one subscription term of 5 seats each, 3 contacts each, tickets, survey answers, the
daily usage rollup over 180 days (20 events per account, written as rollup counts: scores read
the rollup, never raw events) and, for the last 30 days, the raw events behind those rollup
rows with their contacts (seat utilisation counts the contacts active in its 30-day window
from raw events, the one metric that reads them).

Rows, each measured on the same data in one run:
- full recompute (`health_recompute`, the nightly task's service, including its writes: current
  scores, daily history, the account columns, and publishing) vs the very statements it ran,
  captured on that pass and replayed with psycopg over a bare connection in one transaction
  (commit included); median of 3 pairs, run alternately, each after a VACUUM of the written
  tables (what autovacuum does between nightly passes);
- full recompute vs a per-account ORM loop (a few reads and two writes per account, a simpler
  score than the service's), timed on 200 accounts and scaled to all;
- an incremental pass with 1% of accounts marked vs the full recompute;
- the next day's full pass (the nightly case: windows slide by a day, scores change, a new day
  of history is written; the timed full passes above re-score the same day), against the
  1,000,000-account goal per account;
- with BENCH_SCORING_ACCOUNTS_LARGE, the seconds of one full recompute (history included) of a
  second tenant of that many accounts, generated the same way (several minutes): the pass of
  the next day, after the first pass, so it writes a new day of history as the nightly one does.
The first pass of a tenant (every account gets its first score and band, one band-change event
each, published in batches) is printed too, not a row.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fullfield.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# Band changes are published to a queue nobody consumes, purged at the end.
QUEUE = f"bench-scoring-{uuid.uuid4().hex[:8]}"
os.environ["CELERY_QUEUE"] = QUEUE
django.setup()

import psycopg  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count, Max, Sum  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from apps.accounts.models import Account, UsageDay  # noqa: E402
from apps.scoring.models import HealthScore, band_of  # noqa: E402
from apps.scoring.services import (  # noqa: E402
    health_profile_default_ensure,
    health_recompute,
    health_recompute_marked,
)
from benchmarks._report import report_row, scaled  # noqa: E402
from fullfield.tenancy.context import use_public_schema  # noqa: E402
from fullfield.tenancy.services import tenant_create, tenant_delete  # noqa: E402

ACCOUNTS = scaled("BENCH_SCORING_ACCOUNTS", 100_000, minimum=1_000)
LARGE_ACCOUNTS = int(os.environ.get("BENCH_SCORING_ACCOUNTS_LARGE", "0") or "0")
EVENTS_PER_ACCOUNT = 20
LOOP_SAMPLE = 200
PAIRS = 3
LARGE_GOAL_SECONDS = 60.0

Statements = list[tuple[str, Any]]


def generate(accounts: int) -> None:
    """Set-based data for `accounts` accounts over 180 days, in the current schema."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_account (created_at, updated_at, source_system, external_id, "
            "name, domain, industry, region, segment, tier, lifecycle_stage, currency, "
            "attributes) SELECT now(), now(), 'bench', 'b' || g, 'Account ' || g, '', '', '', "
            "(ARRAY['smb', 'mid-market', 'enterprise'])[1 + g %% 3], '', 'adopting', 'USD', "
            "'{}' FROM generate_series(1, %s) g",
            [accounts],
        )
        cursor.execute(
            "INSERT INTO accounts_subscription (created_at, updated_at, source_system, account_id, "
            "plan, mrr, quantity, currency, period_start, period_end, status, change_kind) "
            "SELECT now(), now(), 'bench', id, 'pro', 100 + id % 900, 5, 'USD', "
            "current_date - 400, current_date + (id % 300)::int, "
            "CASE WHEN id % 17 = 0 THEN 'past_due' ELSE 'active' END, 'new' "
            "FROM accounts_account"
        )
        cursor.execute(
            "INSERT INTO accounts_contact (created_at, updated_at, source_system, external_id, "
            "account_id, email, name, title, persona, is_champion) SELECT now(), now(), 'bench', "
            "a.id || '-' || k, a.id, '', 'Contact ' || k, '', 'user', false "
            "FROM accounts_account a, generate_series(1, 3) k ORDER BY a.id, k"
        )
        cursor.execute(
            "INSERT INTO accounts_ticket (created_at, updated_at, source_system, account_id, "
            "subject, priority, status, opened_at) SELECT now(), now(), 'bench', id, 'Help', "
            "(ARRAY['low', 'normal', 'high', 'urgent'])[1 + id % 4], 'open', "
            "now() - interval '3 days' FROM accounts_account WHERE id % 10 = 0"
        )
        cursor.execute(
            "INSERT INTO accounts_surveyresponse (created_at, updated_at, source_system, "
            "account_id, kind, score, moment, comment, responded_at) SELECT now(), now(), "
            "'bench', id, 'nps', id % 11, '', '', now() - (id % 90) * interval '1 day' "
            "FROM accounts_account WHERE id % 3 = 0"
        )
        # Each account's events over 180 days: busier accounts (by id) use more days.
        cursor.execute(
            "INSERT INTO accounts_usageday (account_id, day, name, event_count, value_sum) "
            "SELECT account_id, day, name, count(*), count(*) FROM (SELECT a.id AS account_id, "
            "current_date - ((n * 7 + a.id) %% (30 + a.id %% 150))::int AS day, "
            "(ARRAY['login', 'report', 'export', 'share', 'invite'])[1 + (n + a.id) %% 5] "
            "AS name FROM accounts_account a, generate_series(1, %s) n) events "
            "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            [EVENTS_PER_ACCOUNT],
        )
        # The raw events behind the last 30 days of the rollup, each by one of 1 to 3 of the
        # account's contacts.
        cursor.execute(
            "INSERT INTO accounts_usageevent (account_id, contact_id, name, occurred_at, value, "
            "properties, idempotency_key, received_at) SELECT u.account_id, "
            "c.first + (g + (current_date - u.day)) % (1 + u.account_id % 3), u.name, "
            "u.day + g * interval '1 second', 1, '{}', "
            "u.account_id || '-' || u.day || '-' || u.name || '-' || g, now() "
            "FROM accounts_usageday u JOIN (SELECT account_id, min(id) AS first "
            "FROM accounts_contact GROUP BY account_id) c ON c.account_id = u.account_id, "
            "generate_series(1, u.event_count) g WHERE u.day > current_date - 30 "
            "ORDER BY 4"
        )
        cursor.execute("ANALYZE")


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def vacuum() -> None:
    """What autovacuum does between two nightly passes, before each timed one (untimed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "VACUUM (ANALYZE) accounts_account, scoring_healthscore, scoring_healthsnapshot"
        )


def service_full_captured() -> tuple[float, Statements]:
    """One full recompute through the service, and the statements it sent."""
    vacuum()
    statements: Statements = []

    def capture(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        seconds = timed(health_recompute)
    return seconds, statements


def by_hand(schema: str, statements: Statements) -> float:
    """The service's statements replayed over a bare psycopg connection (client-side binding,
    as Django's), in one transaction, commit included."""
    vacuum()
    url = os.environ["DATABASE_URL"]
    with psycopg.connect(url, cursor_factory=psycopg.ClientCursor) as bare:
        bare.execute(f'SET search_path TO "{schema}", public')
        bare.commit()
        started = time.perf_counter()
        with bare.transaction(), bare.cursor() as cursor:
            for sql, params in statements:
                if sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT")):
                    continue
                cursor.execute(sql, params)
        return time.perf_counter() - started


def orm_loop_per_account(sample: list[int]) -> float:
    """What a naive implementation does: per account, a few ORM reads and two writes."""
    profile = health_profile_default_ensure()
    today = timezone.now().date()
    started = time.perf_counter()
    for account_id in sample:
        days = UsageDay.objects.filter(account_id=account_id, day__gt=today - dt.timedelta(days=30))
        stats = days.aggregate(events=Sum("event_count"), active=Count("day", distinct=True))
        breadth = days.values("name").distinct().count()
        last = UsageDay.objects.filter(account_id=account_id).aggregate(last=Max("day"))["last"]
        recency = (today - last).days if last else 90
        score = min(100.0, (stats["active"] or 0) * 5 + breadth * 5 + max(0, 30 - recency))
        HealthScore.objects.update_or_create(
            account_id=account_id,
            defaults={
                "score": score,
                "band": band_of(score),
                "profile": profile,
                "profile_version": profile.version,
                "components": [float(stats["events"] or 0), score, 100.0],
                "as_of": timezone.now(),
            },
        )
        Account.objects.filter(pk=account_id).update(health_score=score)
    return (time.perf_counter() - started) / len(sample)


def incremental(accounts: int) -> float:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE accounts_account SET rescore_requested_at = now() WHERE id % 100 = 7"
        )
    return timed(lambda: health_recompute_marked(batch_size=accounts))


def with_tenant(label: str, work: Callable[[str], None]) -> None:
    slug = f"benchscore{uuid.uuid4().hex[:6]}"
    tenant = tenant_create(slug=slug, name=label, admin_email=f"a@{slug}.test")
    try:
        with schema_context(tenant.tenant.schema_name):
            work(tenant.tenant.schema_name)
    finally:
        use_public_schema()
        tenant_delete(slug=slug)


def prepare(accounts: int) -> None:
    started = time.perf_counter()
    generate(accounts)
    rollup_rows = UsageDay.objects.count()
    print(
        f"data: {accounts:,} accounts, {accounts * EVENTS_PER_ACCOUNT:,} events as "
        f"{rollup_rows:,} rollup rows over 180 days (raw events for the last 30), generated "
        f"in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    first = timed(health_recompute)
    print(f"first full recompute (every account's first band change): {first:.2f} s", flush=True)


def main_run(schema: str) -> None:
    prepare(ACCOUNTS)
    services: list[float] = []
    hands: list[float] = []
    for _ in range(PAIRS):
        seconds, statements = service_full_captured()
        services.append(seconds)
        hands.append(by_hand(schema, statements))
        print(f"full recompute: service {seconds:.2f} s, by hand {hands[-1]:.2f} s", flush=True)
    full, hand = statistics.median(services), statistics.median(hands)

    sample = list(Account.objects.order_by("?").values_list("id", flat=True)[:LOOP_SAMPLE])
    per_account = orm_loop_per_account(sample)
    loop = per_account * ACCOUNTS
    health_recompute(account_ids=sample)  # the loop's writes replaced by real scores again
    print(f"ORM loop: {per_account * 1000:.1f} ms/account on {LOOP_SAMPLE} accounts", flush=True)

    vacuum()
    incremental_seconds = incremental(ACCOUNTS)
    # The timed full passes above re-score the same day (what a rescore on demand does), so most
    # scores are unchanged; the nightly pass is the next day's, with a new day of history.
    vacuum()
    tomorrow = timezone.now() + dt.timedelta(days=1)
    nightly = timed(lambda: health_recompute(as_of=tomorrow))
    print(f"next day's full recompute: {nightly:.2f} s", flush=True)
    size = f"{ACCOUNTS:,} accounts"
    report_row(
        workload=f"health recompute, full, {size}",
        ours=full,
        unit="s",
        reference=hand,
        reference_name="the same statements by hand, psycopg",
        ratio=hand / full,
        goal=0.8,
        note=f"ratio = by-hand time / service time; medians of {PAIRS} pairs",
    )
    report_row(
        workload=f"health recompute, full vs per-account ORM loop, {size}",
        ours=full,
        unit="s",
        reference=loop,
        reference_name=f"ORM loop, {LOOP_SAMPLE} accounts timed, scaled",
        ratio=loop / full,
        goal=100,
        note="ratio = how many times faster",
    )
    report_row(
        workload=f"health recompute, incremental, 1% of {size} marked",
        ours=incremental_seconds,
        unit="s",
        reference=full,
        reference_name="full recompute",
        ratio=full / incremental_seconds,
        goal=30,
        note="ratio = how many times faster",
    )
    report_row(
        workload=f"health recompute, full, the next day's pass, {size}, history included",
        ours=nightly,
        unit="s",
        goal=LARGE_GOAL_SECONDS * ACCOUNTS / 1_000_000,
        goal_on="ours",
        lower_is_better=True,
        note="goal: the 1,000,000-account goal per account",
    )


def large_run(schema: str) -> None:
    del schema
    prepare(LARGE_ACCOUNTS)
    vacuum()
    # The nightly pass: the next day's scores and history rows (windows slide by a day).
    tomorrow = timezone.now() + dt.timedelta(days=1)
    seconds = timed(lambda: health_recompute(as_of=tomorrow))
    report_row(
        workload=f"health recompute, full, {LARGE_ACCOUNTS:,} accounts, history included",
        ours=seconds,
        unit="s",
        goal=LARGE_GOAL_SECONDS,
        goal_on="ours",
        lower_is_better=True,
        note="the next day's pass after the first",
    )


def main() -> None:
    from fullfield.celery_app import app

    try:
        with_tenant("Scoring benchmark", main_run)
        if LARGE_ACCOUNTS:
            with_tenant("Scoring benchmark, large", large_run)
        else:
            print(
                "full recompute of 1,000,000 accounts: not run "
                "(BENCH_SCORING_ACCOUNTS_LARGE=1000000 adds it; its data takes minutes)"
            )
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge(QUEUE)


if __name__ == "__main__":
    main()
