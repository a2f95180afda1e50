"""Server time per UI page, p50/p95, with its query count, on the demo tenant and on a
100,000-account tenant.

fullfield benchmark pages

Each page is requested in-process through Django's full middleware stack (tenant routing,
session, authentication) as the tenant's admin; the time is from request to rendered response,
the same work a WSGI server does for it. The demo tenant is seeded by the project's seeder when
it is empty (2,000 accounts, 18 months); the large tenant is generated set-based by the scoring
benchmark's generator (`benchmarks.scoring.generate`), scored, given a squad and its revenue
snapshot, measured, and deleted at the end.

Knobs: BENCH_PAGES_ACCOUNTS (100,000; BENCH_SCALE scales it), BENCH_ROUNDS (20 timed rounds
per page after 3 warm-up rounds; a page stops after BENCH_PAGE_SECONDS, 3, of timed rounds once
it has 5, whose p95 is then their slowest), BENCH_ONLY (only pages whose name contains this text),
BENCH_SKIP_DEMO=1, BENCH_PAGES_KEEP=1 (keep the generated tenant) and BENCH_PAGES_TENANT=<slug>
(measure a kept one instead of generating).

Goals (DESIGN.md): p95 <= 150 ms on the demo tenant, <= 300 ms at 100,000 accounts.

A page is one line of PAGES: a name and a function from the tenant's Sample (ids of rows that
exist in it) to the path, or to "" when the tenant has no such row. A path ending in "&hx=1" is
requested as htmx (the partial); "POST <path>" posts the default health profile's components
as the profile editor does (its band preview). Squads' scorecards are measured and stored first,
as beat does every few minutes, and the time that takes per squad is shown (not a page goal):
the squad page reads the stored one.
"""

from __future__ import annotations

import io
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlencode

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fullfield.settings")
if __name__ == "__main__":  # imported by a test, it leaves the environment alone
    os.environ.setdefault("LOG_LEVEL", "WARNING")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from apps.accounts.models import Account, RevenueSnapshot, SavedView, Subscription  # noqa: E402
from apps.accounts.seed import seed_demo  # noqa: E402
from apps.accounts.services.revenue import revenue_refresh  # noqa: E402
from apps.scoring.demo import seed_scores  # noqa: E402
from apps.scoring.profile_form import rows_from_components  # noqa: E402
from apps.scoring.services import health_profile_default_ensure, health_recompute  # noqa: E402
from apps.squads.demo import seed_squads_demo  # noqa: E402
from apps.squads.models import Play, Squad  # noqa: E402
from apps.squads.scorecards import squad_scorecard_refresh  # noqa: E402
from apps.squads.services import squad_create  # noqa: E402
from benchmarks._report import report_row, scaled  # noqa: E402
from fullfield import events  # noqa: E402
from fullfield.tenancy.context import use_public_schema  # noqa: E402
from fullfield.tenancy.models import Tenant  # noqa: E402
from fullfield.tenancy.selectors import tenant_get  # noqa: E402
from fullfield.tenancy.services import tenant_create, tenant_delete  # noqa: E402
from fullfield.users.models import User  # noqa: E402
from fullfield.web.views import score_trends_cache_key  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "20"))
WARMUP = 3
# A slow page stops after this many seconds of timed rounds once it has MIN_ROUNDS of them.
PAGE_SECONDS = float(os.environ.get("BENCH_PAGE_SECONDS", "3"))
MIN_ROUNDS = 5
LARGE_ACCOUNTS = scaled("BENCH_PAGES_ACCOUNTS", 100_000)
ONLY = os.environ.get("BENCH_ONLY", "")
# BENCH_PAGES_KEEP=1 keeps the generated tenant; BENCH_PAGES_TENANT=<slug> measures a kept one.
KEEP = os.environ.get("BENCH_PAGES_KEEP") == "1"
REUSE = os.environ.get("BENCH_PAGES_TENANT", "")
SKIP_DEMO = os.environ.get("BENCH_SKIP_DEMO") == "1"
DEMO_GOAL_MS, LARGE_GOAL_MS = 150.0, 300.0


@dataclass(frozen=True)
class Sample:
    """Rows of the measured tenant that page paths name (add a field for a new page's rows)."""

    account_id: int
    search: str
    squad_id: int | None
    saved_view_query: str
    profile_id: int
    play_id: int | None


def sample_of_tenant() -> Sample:
    """The current schema's sample: the account with the latest renewal (a busy 360), the
    newest account's name (what someone looking for that account types), a squad, a view."""
    renewing = (
        Subscription.objects.filter(period_end__isnull=False)
        .order_by("-period_end")
        .values_list("account_id", flat=True)
        .first()
    )
    first = Account.objects.order_by("id").values_list("id", "name").first()
    newest = Account.objects.order_by("-id").values_list("name", flat=True).first()
    if first is None or newest is None:
        raise SystemExit("the tenant has no accounts to measure pages with")
    saved = SavedView.objects.order_by("id").values_list("query", flat=True).first()
    return Sample(
        account_id=renewing or first[0],
        search=newest,
        squad_id=Squad.objects.order_by("id").values_list("id", flat=True).first(),
        saved_view_query=saved or "band=poor&sort=-mrr",
        profile_id=health_profile_default_ensure().pk,
        play_id=Play.objects.order_by("id").values_list("id", flat=True).first(),
    )


SQUAD_PAGE = "squad (scorecard stored by beat)"


def _squad_query(sample: Sample) -> str:
    return f"squad={sample.squad_id}" if sample.squad_id else "squad=0"


PAGES: list[tuple[str, Callable[[Sample], str]]] = [
    ("dashboard", lambda s: "/"),
    ("accounts", lambda s: "/accounts/"),
    ("accounts, by MRR", lambda s: "/accounts/?sort=-mrr"),
    ("accounts, by renewal", lambda s: "/accounts/?sort=renewal"),
    ("accounts, by health", lambda s: "/accounts/?sort=score"),
    ("accounts, poor band by trend", lambda s: "/accounts/?band=poor&sort=-trend"),
    ("accounts, renewing in 90 days", lambda s: "/accounts/?renewal=90"),
    ("accounts, segment + stage", lambda s: "/accounts/?segment=smb&stage=adopting"),
    ("accounts, squad", lambda s: f"/accounts/?{_squad_query(s)}&sort=-mrr"),
    ("accounts, search", lambda s: f"/accounts/?{urlencode({'q': s.search})}"),
    ("accounts, saved view", lambda s: f"/accounts/?{s.saved_view_query}"),
    ("accounts, htmx sort (partial)", lambda s: "/accounts/?sort=-mrr&hx=1"),
    ("account 360", lambda s: f"/accounts/{s.account_id}/"),
    ("integrations: imports", lambda s: "/integrations/imports/"),
    ("integrations: job log", lambda s: "/integrations/jobs/"),
    ("integrations: API keys", lambda s: "/integrations/api-keys/"),
    ("integrations: webhooks", lambda s: "/integrations/webhooks/"),
    ("integrations: Stripe", lambda s: "/integrations/stripe/"),
    ("field, 12 months (report cached)", lambda s: "/field/"),
    ("queue triage", lambda s: "/queues/"),
    ("queue triage, by SLA", lambda s: "/queues/?sort=sla"),
    ("queue triage, refresh (partial)", lambda s: "/queues/?sort=priority&hx=1"),
    ("squads", lambda s: "/squads/"),
    (SQUAD_PAGE, lambda s: _squad_page(s)),
    ("plays", lambda s: "/plays/"),
    ("play, with run audit", lambda s: f"/plays/{s.play_id}/" if s.play_id else ""),
    ("scoring settings (report card)", lambda s: "/settings/scoring/"),
    ("health profile", lambda s: f"/settings/scoring/profiles/{s.profile_id}/"),
    (
        "health profile band preview (htmx)",
        lambda s: f"POST /settings/scoring/profiles/{s.profile_id}/preview/",
    ),
    ("people", lambda s: "/settings/users/"),
]


def _squad_page(sample: Sample) -> str:
    return f"/squads/{sample.squad_id}/" if sample.squad_id else ""


def _profile_form() -> dict[str, str]:
    """The default profile's components as its editor posts them."""
    rows = rows_from_components(health_profile_default_ensure().components)
    form: dict[str, str] = {}
    for row in rows:
        form[f"{row.prefix}-use"] = "on"
        form[f"{row.prefix}-weight"] = row.weight
        form[f"{row.prefix}-window_days"] = row.window_days
        form[f"{row.prefix}-mapping"] = row.mapping
    return form


def page_request(client: Client, path: str, *, schema_name: str) -> HttpResponse:
    """One request for a page of PAGES as a browser makes it (htmx header, preview form)."""
    if path.startswith("POST "):
        with schema_context(schema_name):
            form = _profile_form()
        response = client.post(path.removeprefix("POST "), form, headers={"HX-Request": "true"})
    else:
        headers = {"HX-Request": "true"} if path.endswith("&hx=1") else {}
        response = client.get(path, headers=headers)
    assert isinstance(response, HttpResponse)
    return response


def _demo_tenant() -> Tenant:
    slug = settings.FULLFIELD_DEMO_TENANT
    use_public_schema()
    tenant = tenant_get(slug=slug)
    if tenant is None:
        tenant = tenant_create(
            slug=slug, name=f"Bench {slug}", admin_email=f"admin@{slug}.example"
        ).tenant
    with schema_context(tenant.schema_name):
        if not Account.objects.exists():
            print(f"seeding {slug} (2,000 accounts)...", flush=True)
        seed_demo(stdout=io.StringIO())  # nothing when seeded
        seed_scores(stdout=io.StringIO())  # nothing when scored
        seed_squads_demo(stdout=io.StringIO())  # nothing when squads exist
        revenue_refresh()  # what beat does every minute; nothing when fresh
    return tenant


@contextmanager
def _no_subscribers() -> Iterator[None]:
    """Generated data is not news: no play or webhook should react to it, and the first scoring
    of 100,000 accounts would otherwise send one band-change task per account."""
    saved = {name: list(tasks) for name, tasks in events._subscribers.items()}
    events._subscribers.clear()
    try:
        yield
    finally:
        events._subscribers.update(saved)


def _large_tenant(accounts: int) -> Tenant:
    from benchmarks.scoring import generate

    slug = f"benchpages{uuid.uuid4().hex[:6]}"
    use_public_schema()
    tenant = tenant_create(slug=slug, name="Pages benchmark", admin_email=f"admin@{slug}.test")
    started = time.perf_counter()
    with schema_context(tenant.tenant.schema_name):
        generate(accounts)
        generated = time.perf_counter() - started
        with _no_subscribers():
            health_recompute()
        scored = time.perf_counter() - started - generated
        squad = squad_create(
            data={
                "name": "Enterprise desk",
                "mission": "Grow enterprise",
                "value_area": "geography",
            }
        )
        Account.objects.filter(segment="enterprise").update(squad_id=squad.pk)
        refresh_started = time.perf_counter()
        revenue_refresh()
        refreshed = time.perf_counter() - refresh_started
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(
        f"{slug}: {accounts:,} accounts generated in {generated:.1f} s, scored in {scored:.1f} s, "
        f"revenue columns and snapshot computed in {refreshed:.1f} s",
        flush=True,
    )
    return tenant.tenant


def _measure(tenant: Tenant, *, size: str, goal_ms: float) -> None:
    host = f"{tenant.slug}.{settings.FULLFIELD_BASE_DOMAIN}"
    client = Client(HTTP_HOST=host)
    with schema_context(tenant.schema_name):
        admin = User.objects.filter(is_staff=True).order_by("id").first()
        assert admin is not None
        client.force_login(admin)
        accounts = Account.objects.count()
        sample = sample_of_tenant()
    use_public_schema()
    print(
        f"\n{tenant.slug}: {accounts:,} accounts, {ROUNDS} rounds per page (a page stops after "
        f"{PAGE_SECONDS:g} s once it has {MIN_ROUNDS})"
    )
    if ONLY in SQUAD_PAGE:
        _refresh_scorecards(tenant)
    print(f"{'page':34} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}")
    for name, path_of in PAGES:
        if ONLY not in name:
            continue
        path = path_of(sample)
        if not path:
            continue
        timings: list[float] = []
        queries = 0
        for round_number in range(WARMUP + ROUNDS):
            if len(timings) >= MIN_ROUNDS and sum(timings) > PAGE_SECONDS * 1000:
                break
            # The capture counts the growth of the connection's query log, a deque capped at
            # 9,000 entries that requests inside a capture do not reset: once full, every page
            # would count 0 queries. Emptied first, it counts this request's.
            reset_queries()
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = page_request(client, path, schema_name=tenant.schema_name)
                elapsed = time.perf_counter() - started
            use_public_schema()
            if response.status_code != 200:
                raise SystemExit(f"{path} answered {response.status_code}")
            if round_number >= WARMUP:
                timings.append(elapsed * 1000)
                queries = len(captured)
        timings.sort()
        p50 = statistics.median(timings)
        p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
        print(f"{name:34} {p50:8.1f} {p95:8.1f} {queries:8d}", flush=True)
        report_row(
            workload=f"page {name} ({size}), p95",
            ours=p95,
            unit="ms",
            goal=goal_ms,
            goal_on="ours",
            lower_is_better=True,
            note=(
                f"p50 {p50:.0f} ms, {queries} queries, {accounts:,} accounts"
                + (f", {len(timings)} rounds" if len(timings) < ROUNDS else "")
            ),
        )
    _measure_cold_dashboard(tenant, size=size, accounts=accounts, client=client)


def _refresh_scorecards(tenant: Tenant) -> None:
    """What beat does every few minutes: measure and store each squad's scorecard (the squad
    page reads the stored one). Its time per squad is shown, not a page goal."""
    with schema_context(tenant.schema_name):
        squads = list(Squad.objects.order_by("pk"))
        for squad in squads:  # the first pass warms the process, like the pages' warm-up rounds
            squad_scorecard_refresh(squad=squad)
        timings = []
        for squad in squads:
            started = time.perf_counter()
            card, _ = squad_scorecard_refresh(squad=squad)
            timings.append(((time.perf_counter() - started) * 1000, card.accounts_covered))
    use_public_schema()
    if timings:
        slowest, covered = max(timings)
        label = "squad scorecard, beat (per squad)"
        print(
            f"{label:34} {statistics.median(t for t, _ in timings):8.1f} {slowest:8.1f} "
            f"(median, slowest of {len(timings)} squads; the slowest covers {covered:,} accounts; "
            "not a goal)"
        )


def _measure_cold_dashboard(tenant: Tenant, *, size: str, accounts: int, client: Client) -> None:
    """What a tenant's very first dashboard view (or a refresh) costs: the revenue snapshot and
    the score trends computed, not read. Shown for information, not a page goal: beat keeps the
    snapshot fresh, so people do not wait for it."""
    if ONLY and ONLY not in "dashboard":
        return
    timings: list[float] = []
    for _ in range(3 if accounts < 10_000 else 1):
        with schema_context(tenant.schema_name):
            RevenueSnapshot.objects.all().delete()
            cache.delete(score_trends_cache_key())
        started = time.perf_counter()
        response = client.get("/")
        timings.append((time.perf_counter() - started) * 1000)
        use_public_schema()
        assert response.status_code == 200
    label = "dashboard, first view (computes)"
    print(f"{label:34} {statistics.median(timings):8.1f} (median of {len(timings)}; not a goal)")


def main() -> None:
    if not SKIP_DEMO:
        _measure(_demo_tenant(), size="demo", goal_ms=DEMO_GOAL_MS)
    if LARGE_ACCOUNTS:
        use_public_schema()
        kept = tenant_get(slug=REUSE) if REUSE else None
        large = kept or _large_tenant(LARGE_ACCOUNTS)
        try:
            size = f"{LARGE_ACCOUNTS // 1000:,}k accounts"
            _measure(large, size=size, goal_ms=LARGE_GOAL_MS)
        finally:
            use_public_schema()
            if not (KEEP or kept):
                tenant_delete(slug=large.slug)


if __name__ == "__main__":
    main()
