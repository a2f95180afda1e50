"""API list, a page of 100 accounts: the DRF endpoint vs a plain Django JsonResponse view.

    fullfield benchmark api_list

One gunicorn server (2 sync workers, DEBUG off) on 127.0.0.1 serves both sides from the same
process, settings and tenant, so that only the view differs:

- ours: GET /api/v1/accounts/?page_size=100 with an API key (authentication, permissions,
  filters, cursor pagination, the serializer, the one error shape);
- reference: GET /bench/plain-accounts/, `JsonResponse(list(qs.values()[:100]))` on the same
  table and order, without authentication.

Concurrent clients (threads with keep-alive sessions) each send a fixed number of requests;
the rounds alternate the sides. Reported: requests/s (goal >= 0.5x the plain view), p50 and
p99 latency, and the queries one page costs, counted in this process for the first and a later
page (they must be equal: no COUNT, no per-row queries).

Knobs (environment): BENCH_API_ACCOUNTS (10,000), BENCH_API_REQUESTS (requests per side and
round, 2,000), BENCH_API_CLIENTS (8), BENCH_ROUNDS (3); BENCH_SCALE scales the first two.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from statistics import median, quantiles

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fullfield.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
django.setup()

import requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from apps.accounts.models import Account  # noqa: E402
from apps.integrations.services import api_key_create  # noqa: E402
from benchmarks._report import report_row, scaled  # noqa: E402
from benchmarks._servers import gunicorn_server  # noqa: E402
from fullfield.tenancy.context import use_public_schema, use_tenant  # noqa: E402
from fullfield.tenancy.services import tenant_create, tenant_delete  # noqa: E402

ACCOUNTS = scaled("BENCH_API_ACCOUNTS", 10_000, minimum=500)
REQUESTS = scaled("BENCH_API_REQUESTS", 2_000, minimum=200)
CLIENTS = int(os.environ.get("BENCH_API_CLIENTS", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
PAGE = 100
OURS_PATH = f"/api/v1/accounts/?page_size={PAGE}"
PLAIN_PATH = "/bench/plain-accounts/"


def load(url: str, headers: dict[str, str]) -> tuple[float, list[float]]:
    """REQUESTS requests from CLIENTS threads: (requests per second, latencies in seconds)."""
    local = threading.local()
    latencies: list[float] = []
    per_client = REQUESTS // CLIENTS

    def client() -> None:
        local.session = requests.Session()
        for _ in range(per_client):
            started = time.perf_counter()
            response = local.session.get(url, headers=headers, timeout=60)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200 or len(_results(response.json())) != PAGE:
                raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        for future in [pool.submit(client) for _ in range(CLIENTS)]:
            future.result()
    return per_client * CLIENTS / (time.perf_counter() - started), latencies


def _results(body: object) -> list[object]:
    if isinstance(body, dict):
        results = body.get("results", [])
        return results if isinstance(results, list) else []
    return body if isinstance(body, list) else []


def queries_per_page(host: str, key: str) -> tuple[int, int, list[str]]:
    """Queries of the first and of the next page, through the full stack in this process."""
    client = Client(HTTP_HOST=host, HTTP_AUTHORIZATION=f"Api-Key {key}")
    counts: list[int] = []
    statements: list[str] = []
    url = OURS_PATH
    client.get(url)  # warm-up: once-per-process lookups are not a page's cost
    for _ in range(2):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        counts.append(len(captured.captured_queries))
        statements.extend(query["sql"] for query in captured.captured_queries)
        url = response.json()["next"]
    return counts[0], counts[1], statements


def main() -> None:
    slug = f"bench-api-{uuid.uuid4().hex[:6]}"
    tenant = tenant_create(slug=slug, name="Benchmark", admin_email=f"admin@{slug}.test").tenant
    host = f"{slug}.{settings.FULLFIELD_BASE_DOMAIN}"
    servers = ExitStack()
    try:
        use_tenant(tenant)
        Account.objects.bulk_create(
            [
                Account(external_id=f"acct-{i}", name=f"Account {i}", domain=f"a{i}.example")
                for i in range(ACCOUNTS)
            ],
            batch_size=5_000,
        )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        key = api_key_create(name="benchmark", scope="read", created_by=None)[1]
        first, later, statements = queries_per_page(host, key)
        counting = [sql for sql in statements if "COUNT(" in sql.upper()]
        use_public_schema()

        # The project's settings with a URLconf that adds the plain view.
        environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "benchmarks._api_list_settings"}
        base = servers.enter_context(gunicorn_server(environ=environ))
        sides = {
            "ours": (base + OURS_PATH, {"Host": host, "Authorization": f"Api-Key {key}"}),
            "plain": (base + PLAIN_PATH, {"Host": host}),
        }
        for url, headers in sides.values():  # warm-up: imports, connections, caches
            requests.get(url, headers=headers, timeout=60).raise_for_status()
        rates: dict[str, list[float]] = {"ours": [], "plain": []}
        latencies: dict[str, list[float]] = {"ours": [], "plain": []}
        for _ in range(ROUNDS):
            for side, (url, headers) in sides.items():
                rate, seconds = load(url, headers)
                rates[side].append(rate)
                latencies[side].extend(seconds)
    finally:
        servers.close()
        use_public_schema()
        tenant_delete(slug=slug)

    def percentiles(side: str) -> tuple[float, float]:
        cuts = quantiles(latencies[side], n=100)
        return cuts[49] * 1000, cuts[98] * 1000

    ours, plain = median(rates["ours"]), median(rates["plain"])
    (ours_p50, ours_p99), (plain_p50, plain_p99) = percentiles("ours"), percentiles("plain")
    print(
        f"api list: page of {PAGE} of {ACCOUNTS:,} accounts, {CLIENTS} clients, {REQUESTS:,} "
        f"requests per side x {ROUNDS} rounds, gunicorn 2 workers on {os.cpu_count()} CPUs\n"
        f"  DRF endpoint {ours:,.0f} req/s (p50 {ours_p50:.1f} ms, p99 {ours_p99:.1f} ms) vs "
        f"plain JsonResponse {plain:,.0f} req/s (p50 {plain_p50:.1f} ms, p99 {plain_p99:.1f} ms)"
        f"\n  queries per page: first {first}, next {later}; COUNT queries: {len(counting)}"
    )
    report_row(
        workload=f"API list, page of {PAGE}, {CLIENTS} clients",
        ours=ours,
        unit="req/s",
        reference=plain,
        reference_name="plain JsonResponse(values())",
        goal=0.5,
        note=f"p50/p99 {ours_p50:.0f}/{ours_p99:.0f} ms vs {plain_p50:.0f}/{plain_p99:.0f} ms",
    )
    report_row(
        workload="API list, queries per page (first, next)",
        ours=float(max(first, later)),
        unit="queries",
        reference=float(min(first, later)),
        reference_name="the other page",
        goal=1.0,
        lower_is_better=True,
        note=f"first {first}, next {later}, COUNT {len(counting)}",
    )
    if counting or first != later:
        print("  queries of the two pages:\n    " + "\n    ".join(statements))


if __name__ == "__main__":
    main()
