"""Event ingest: the batch endpoint end to end vs psycopg COPY of the same rows.

    fullfield benchmark ingest

Both sides write the same rows (same idempotency keys, accounts, contacts, timestamps,
properties) into the same accounts_usageevent table with the same indexes, starting from an
empty table, in batches of 10,000 committed one by one:

- endpoint: POST /api/v1/events/batch/ over real HTTP to gunicorn (2 sync workers, DEBUG off)
  on this machine: request bodies are encoded before the clock starts; the clock covers
  sending, parsing, validating, resolving accounts/contacts, staging, the upsert with the
  daily usage rollup kept in the same statement, marking accounts for rescoring, recording the
  job and the response.
- raw COPY: binary psycopg COPY of rows whose account and contact ids are already known,
  straight into the table (no validation, no deduplication), one commit per batch.
- raw COPY + rollup: the same COPY, and in the same transaction one upsert of the batch's
  daily rollup rows (aggregated before the clock starts): what keeping the rollup costs at the
  least, shown in the note of each row next to the endpoint's rate.

Each side runs with one stream and with two concurrent streams (two HTTP clients, two COPY
connections); the headline is one stream against one stream. Environment: BENCH_INGEST_EVENTS
(per round, default 100,000) and BENCH_INGEST_ROUNDS (default 3).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from statistics import median
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fullfield.settings")
django.setup()

import orjson  # noqa: E402
import psycopg  # noqa: E402
import requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402
from psycopg.types.json import set_json_dumps  # noqa: E402

from apps.accounts.models import Account, Contact, UsageDay, UsageEvent  # noqa: E402
from apps.integrations.services import api_key_create  # noqa: E402
from benchmarks._servers import gunicorn_server  # noqa: E402
from fullfield.tenancy.context import use_public_schema  # noqa: E402
from fullfield.tenancy.services import tenant_create, tenant_delete  # noqa: E402

EVENTS = int(os.environ.get("BENCH_INGEST_EVENTS", "100000"))
ROUNDS = int(os.environ.get("BENCH_INGEST_ROUNDS", "3"))
BATCH = 10_000
ACCOUNTS = 2_000
CONTACTS = 10_000
NAMES = ("login", "report.exported", "dashboard.viewed", "export.csv", "invite.sent")
TABLE = UsageEvent._meta.db_table
ROLLUP = UsageDay._meta.db_table
COLUMNS = (
    "idempotency_key, account_id, contact_id, name, occurred_at, value, properties, received_at"
)


def make_events(count: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC).replace(microsecond=0)
    return [
        {
            "id": f"evt-{index:09d}",
            "account_external_id": f"acct-{index % ACCOUNTS}",
            "contact_external_id": f"user-{index % CONTACTS}",
            "name": NAMES[index % len(NAMES)],
            "occurred_at": (now - timedelta(seconds=index)).isoformat(),
            "value": float(index % 7),
            "properties": {"plan": "pro", "feature": NAMES[index % 3], "seq": index},
        }
        for index in range(count)
    ]


def prepare_tenant(schema: str) -> tuple[str, dict[str, int], dict[str, int]]:
    with schema_context(schema):
        Account.objects.bulk_create(
            [Account(external_id=f"acct-{i}", name=f"Account {i}") for i in range(ACCOUNTS)]
        )
        accounts = {
            str(external_id): pk
            for external_id, pk in Account.objects.values_list("external_id", "id")
        }
        Contact.objects.bulk_create(
            [
                Contact(external_id=f"user-{i}", account_id=accounts[f"acct-{i % ACCOUNTS}"])
                for i in range(CONTACTS)
            ]
        )
        contacts = {
            str(external_id): pk
            for external_id, pk in Contact.objects.values_list("external_id", "id")
        }
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        key = api_key_create(name="benchmark", scope="read_write", created_by=None)[1]
    return key, accounts, contacts


def database_dsn() -> str:
    return str(settings.DATABASE_URL)


def truncate(schema: str) -> None:
    with psycopg.connect(database_dsn(), autocommit=True) as conn:
        conn.execute(f'TRUNCATE "{schema}".{TABLE}, "{schema}".{ROLLUP}')
        conn.execute(f'VACUUM ANALYZE "{schema}".{TABLE}')
        conn.execute(f'VACUUM ANALYZE "{schema}".{ROLLUP}')


def check_rows(schema: str) -> None:
    """Both sides must have stored every event, with its properties as a JSON object."""
    with psycopg.connect(database_dsn()) as conn:
        row = conn.execute(
            f"SELECT count(*), count(*) FILTER (WHERE jsonb_typeof(properties) = 'object') "
            f'FROM "{schema}".{TABLE}'
        ).fetchone()
    if row != (EVENTS, EVENTS):
        raise RuntimeError(f"expected {EVENTS} rows with object properties, found {row}")


def check_rollup(schema: str) -> None:
    """The endpoint side must also have counted every event once in the daily rollup."""
    with psycopg.connect(database_dsn()) as conn:
        row = conn.execute(f'SELECT sum(event_count) FROM "{schema}".{ROLLUP}').fetchone()
    if row is None or row[0] != EVENTS:
        raise RuntimeError(f"expected the rollup to count {EVENTS} events, found {row}")


def in_parallel(jobs: Sequence[Callable[[], None]], streams: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=streams) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()
    return time.perf_counter() - started


def raw_copy(
    schema: str,
    batches: list[list[tuple[Any, ...]]],
    streams: int,
    after: Sequence[tuple[str, list[Any]] | None] | None = None,
) -> float:
    local = threading.local()
    connections: list[psycopg.Connection[Any]] = []

    def conn() -> psycopg.Connection[Any]:
        if not hasattr(local, "conn"):
            local.conn = psycopg.connect(database_dsn())
            local.conn.execute(f'SET search_path = "{schema}"')
            local.conn.commit()
            # The properties are JSON text already: pass them through as jsonb.
            set_json_dumps(lambda text: text, context=local.conn)
            connections.append(local.conn)
        return local.conn

    def copy_batch(
        rows: list[tuple[Any, ...]], then: tuple[str, list[Any]] | None
    ) -> Callable[[], None]:
        def run() -> None:
            db = conn()
            copy_sql = f"COPY {TABLE} ({COLUMNS}) FROM STDIN (FORMAT BINARY)"
            with db.cursor() as cursor, cursor.copy(copy_sql) as copy:
                copy.set_types(
                    [
                        "text",
                        "int8",
                        "int8",
                        "text",
                        "timestamptz",
                        "float8",
                        "jsonb",
                        "timestamptz",
                    ]
                )
                for row in rows:
                    copy.write_row(row)
            if then is not None:
                db.execute(*then)
            db.commit()

        return run

    try:
        thens = after or [None] * len(batches)
        return in_parallel(
            [copy_batch(rows, then) for rows, then in zip(batches, thens, strict=True)], streams
        )
    finally:
        for db in connections:
            db.close()


def rollup_rows(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    """A batch's rollup rows as columns: account ids, days (UTC), names, counts, value sums."""
    totals: dict[tuple[int, date, str], list[float]] = {}
    for row in rows:
        key = (row[1], row[4].astimezone(UTC).date(), row[3])
        total = totals.setdefault(key, [0, 0.0])
        total[0] += 1
        total[1] += row[5]
    keys = sorted(totals)
    return [
        [key[0] for key in keys],
        [key[1] for key in keys],
        [key[2] for key in keys],
        [int(totals[key][0]) for key in keys],
        [totals[key][1] for key in keys],
    ]


def raw_copy_rollup(
    schema: str, batches: list[list[tuple[Any, ...]]], rollups: list[list[list[Any]]], streams: int
) -> float:
    """raw_copy, plus one upsert of each batch's pre-aggregated rollup rows in its transaction."""
    upsert = (
        f"INSERT INTO {ROLLUP} AS r (account_id, day, name, event_count, value_sum) "
        "SELECT * FROM unnest(%s::bigint[], %s::date[], %s::text[], %s::bigint[], %s::float8[]) "
        "ON CONFLICT (account_id, day, name) DO UPDATE "
        "SET event_count = r.event_count + excluded.event_count, "
        "value_sum = r.value_sum + excluded.value_sum"
    )
    return raw_copy(schema, batches, streams, after=[(upsert, rollup) for rollup in rollups])


def endpoint(url: str, headers: dict[str, str], bodies: list[bytes], streams: int) -> float:
    local = threading.local()
    accepted: list[int] = []

    def post(body: bytes) -> Callable[[], None]:
        def run() -> None:
            if not hasattr(local, "session"):
                local.session = requests.Session()
            response = local.session.post(url, data=body, headers=headers, timeout=300)
            if response.status_code != 202:
                raise RuntimeError(f"{response.status_code}: {response.text[:500]}")
            accepted.append(response.json()["accepted"])

        return run

    elapsed = in_parallel([post(body) for body in bodies], streams)
    if sum(accepted) != sum(len(orjson.loads(body)["events"]) for body in bodies):
        raise RuntimeError(f"the endpoint stored {sum(accepted)} events, not all of them")
    return elapsed


def rate(events: int, seconds: float) -> float:
    return events / seconds


def rollup_note(rates: dict[tuple[str, int], list[float]], streams: int) -> str:
    """What the rollup costs raw COPY, and the endpoint against COPY with the rollup: medians
    of the per-round ratios, like the headline (rates of one round share the machine's load)."""
    copy = rates[("copy", streams)]
    with_rollup = rates[("copy+rollup", streams)]
    ours = rates[("endpoint", streams)]
    cost = median(r / c for r, c in zip(with_rollup, copy, strict=True)) - 1
    against = median(o / r for o, r in zip(ours, with_rollup, strict=True))
    return (
        f"COPY + rollup upsert {median(with_rollup):,.0f} ev/s ({cost:+.0%} on COPY alone); "
        f"ours {against:.2f}x of COPY + rollup"
    )


def main() -> None:
    slug = f"bench-ingest-{uuid.uuid4().hex[:6]}"
    tenant = tenant_create(
        slug=slug, name="Ingest benchmark", admin_email=f"admin@{slug}.test"
    ).tenant
    schema = tenant.schema_name
    servers = ExitStack()
    try:
        key, accounts, contacts = prepare_tenant(schema)
        events = make_events(EVENTS)
        chunks = [events[start : start + BATCH] for start in range(0, len(events), BATCH)]
        bodies = [orjson.dumps({"events": chunk}) for chunk in chunks]
        received_at = datetime.now(UTC)
        raw_batches = [
            [
                (
                    event["id"],
                    accounts[event["account_external_id"]],
                    contacts[event["contact_external_id"]],
                    event["name"],
                    datetime.fromisoformat(event["occurred_at"]),
                    event["value"],
                    orjson.dumps(event["properties"]).decode(),
                    received_at,
                )
                for event in chunk
            ]
            for chunk in chunks
        ]
        rollups = [rollup_rows(rows) for rows in raw_batches]

        base = servers.enter_context(gunicorn_server(timeout=300))
        url = f"{base}/api/v1/events/batch/"
        headers = {
            "Host": f"{slug}.{settings.FULLFIELD_BASE_DOMAIN}",
            "Authorization": f"Api-Key {key}",
            "Content-Type": "application/json",
        }
        warm_up = [
            orjson.dumps({"events": make_events(200)[100 * i : 100 * i + 100]}) for i in (0, 1)
        ]
        endpoint(url, headers, warm_up, streams=2)

        # Rounds alternate the two sides, so a load change on the machine hits both alike;
        # each round starts both sides from an empty table.
        ratios: dict[int, list[float]] = {1: [], 2: []}
        rates: dict[tuple[str, int], list[float]] = {}
        for _ in range(ROUNDS):
            for streams in (1, 2):
                truncate(schema)
                copy_rate = rate(EVENTS, raw_copy(schema, raw_batches, streams))
                check_rows(schema)
                truncate(schema)
                copy_rollup_rate = rate(
                    EVENTS, raw_copy_rollup(schema, raw_batches, rollups, streams)
                )
                check_rows(schema)
                check_rollup(schema)
                truncate(schema)
                endpoint_rate = rate(EVENTS, endpoint(url, headers, bodies, streams))
                check_rows(schema)
                check_rollup(schema)
                ratios[streams].append(endpoint_rate / copy_rate)
                rates.setdefault(("copy", streams), []).append(copy_rate)
                rates.setdefault(("copy+rollup", streams), []).append(copy_rollup_rate)
                rates.setdefault(("endpoint", streams), []).append(endpoint_rate)

        print(
            f"ingest benchmark: {EVENTS:,} events x {ROUNDS} rounds, batches of {BATCH:,}, "
            f"{ACCOUNTS:,} accounts, {CONTACTS:,} contacts; {os.cpu_count()} CPUs shared by "
            "client, gunicorn (2 workers) and PostgreSQL; medians"
        )
        for streams in (1, 2):
            label = "1 stream " if streams == 1 else "2 streams"
            print(
                f"  {label}: {median(ratios[streams]):.2f}x raw COPY "
                f"({median(rates[('endpoint', streams)]):,.0f} ev/s vs "
                f"{median(rates[('copy', streams)]):,.0f} ev/s; "
                f"rounds {', '.join(f'{ratio:.2f}x' for ratio in ratios[streams])}); "
                f"{rollup_note(rates, streams)}"
            )
        ours, raw = median(rates[("endpoint", 1)]), median(rates[("copy", 1)])
        print(f"ingest: {median(ratios[1]):.2f}x raw COPY ({ours:,.0f} ev/s vs {raw:,.0f} ev/s)")
        from benchmarks._report import report_row

        for n in (1, 2):
            report_row(
                workload=f"event ingest, API batch, {n} stream{'s' * (n > 1)}",
                ours=median(rates[("endpoint", n)]),
                unit="ev/s",
                goal=0.5,
                reference=median(rates[("copy", n)]),
                reference_name="psycopg COPY",
                ratio=median(ratios[n]),
                note=f"rollup maintained; {rollup_note(rates, n)}",
            )
    finally:
        servers.close()
        use_public_schema()
        tenant_delete(slug=slug)


if __name__ == "__main__":
    main()
