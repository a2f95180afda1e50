"""Server time per UI page, p50/p95, with its query count, on the demo tenant.

fullfield benchmark pages

Each page is requested in-process through Django's full middleware stack (tenant routing,
session, authentication) as the demo tenant's admin; the time is from request to rendered
response, the same work a WSGI server does for it. BENCH_LARGE_ACCOUNTS=100000 also seeds (once)
and measures a tenant of that many accounts with BENCH_LARGE_MONTHS (3) months of history;
seeding 100,000 accounts takes several minutes.
Goals (DESIGN.md): p95 <= 150 ms on the demo tenant, <= 300 ms at 100,000 accounts.
"""

from __future__ import annotations

import io
import os
import statistics
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fullfield.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from apps.accounts.models import Account, Subscription  # noqa: E402
from apps.accounts.seed import seed_demo  # noqa: E402
from apps.scoring.demo import seed_scores  # noqa: E402
from apps.scoring.profile_form import rows_from_components  # noqa: E402
from apps.scoring.services import health_profile_default_ensure  # noqa: E402
from apps.squads.demo import seed_squads_demo  # noqa: E402
from apps.squads.models import Play, Squad  # noqa: E402
from apps.squads.views import scorecard_cache_key  # noqa: E402
from fullfield.tenancy.context import use_public_schema  # noqa: E402
from fullfield.tenancy.models import Tenant  # noqa: E402
from fullfield.tenancy.selectors import tenant_get  # noqa: E402
from fullfield.tenancy.services import tenant_create  # noqa: E402
from fullfield.users.models import User  # noqa: E402
from fullfield.web.views import revenue_cache_key, score_trends_cache_key  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "30"))
WARMUP = 3
LARGE_ACCOUNTS = int(os.environ.get("BENCH_LARGE_ACCOUNTS", "0"))
# Page costs follow accounts and subscription terms, not event history; a short history keeps
# seeding the large tenant to minutes.
LARGE_MONTHS = int(os.environ.get("BENCH_LARGE_MONTHS", "3"))
# Optional: only pages whose label contains this text; skip the demo tenant.
ONLY = os.environ.get("BENCH_ONLY", "")
SKIP_DEMO = os.environ.get("BENCH_SKIP_DEMO") == "1"


def _tenant(slug: str, accounts: int, months: int | None = None) -> Tenant:
    use_public_schema()
    tenant = tenant_get(slug=slug)
    if tenant is None:
        tenant = tenant_create(
            slug=slug, name=f"Bench {slug}", admin_email=f"admin@{slug}.example"
        ).tenant
    with schema_context(tenant.schema_name):
        if not Account.objects.exists():
            print(f"seeding {slug} with {accounts:,} accounts...", flush=True)
            if months is None:
                seed_demo(stdout=io.StringIO(), accounts=accounts)
            else:
                seed_demo(stdout=io.StringIO(), accounts=accounts, months=months)
        # Pages show scores: score a tenant seeded before they did (nothing when scored).
        seed_scores(stdout=io.StringIO())
        # Squads with members, plays and work in progress (nothing when squads exist).
        seed_squads_demo(stdout=io.StringIO())
    return tenant


def _pages(tenant: Tenant) -> list[tuple[str, str]]:
    with schema_context(tenant.schema_name):
        renewing = (
            Subscription.objects.filter(period_end__isnull=False)
            .order_by("-period_end")
            .values_list("account_id", flat=True)
            .first()
        )
        busiest = Account.objects.order_by("id").values_list("id", flat=True).first()
        sample = Account.objects.order_by("id").values_list("name", flat=True).first() or "a"
        squad_id = Squad.objects.order_by("id").values_list("id", flat=True).first()
        profile_id = health_profile_default_ensure().pk
        play_id = Play.objects.order_by("id").values_list("id", flat=True).first()
    account_id = renewing or busiest
    return [
        ("dashboard (revenue recomputed)", "/?nocache=1"),
        ("dashboard (revenue cached)", "/"),
        ("accounts", "/accounts/"),
        ("accounts, by MRR", "/accounts/?sort=-mrr"),
        ("accounts, by renewal", "/accounts/?sort=renewal"),
        ("accounts, by health", "/accounts/?sort=score"),
        ("accounts, poor band by trend", "/accounts/?band=poor&sort=-trend"),
        ("accounts, renewing in 90 days", "/accounts/?renewal=90"),
        ("accounts, segment + stage", "/accounts/?segment=smb&stage=adopting"),
        ("accounts, search", f"/accounts/?q={sample.split()[0]}"),
        ("accounts, htmx sort (partial)", "/accounts/?sort=-mrr&hx=1"),
        ("account 360", f"/accounts/{account_id}/"),
        ("field, 12 months (report cached)", "/field/"),
        ("integrations: imports", "/integrations/imports/"),
        ("integrations: job log", "/integrations/jobs/"),
        ("integrations: API keys", "/integrations/api-keys/"),
        ("integrations: webhooks", "/integrations/webhooks/"),
        ("integrations: Stripe", "/integrations/stripe/"),
        ("queue triage", "/queues/"),
        ("queue triage, by SLA", "/queues/?sort=sla"),
        ("queue triage, refresh (partial)", "/queues/?sort=priority&hx=1"),
        ("squads", "/squads/"),
        ("squad (scorecard recomputed)", f"/squads/{squad_id}/?nocache=1"),
        ("squad (scorecard cached)", f"/squads/{squad_id}/"),
        ("plays", "/plays/"),
        *([("play, with run audit", f"/plays/{play_id}/")] if play_id else []),
        ("scoring settings (report card)", "/settings/scoring/"),
        ("health profile", f"/settings/scoring/profiles/{profile_id}/"),
        (
            "health profile band preview (htmx)",
            f"POST /settings/scoring/profiles/{profile_id}/preview/",
        ),
        ("people", "/settings/users/"),
    ]


def _profile_form(tenant: Tenant) -> dict[str, str]:
    with schema_context(tenant.schema_name):
        rows = rows_from_components(health_profile_default_ensure().components)
    form: dict[str, str] = {}
    for row in rows:
        form[f"{row.prefix}-use"] = "on"
        form[f"{row.prefix}-weight"] = row.weight
        form[f"{row.prefix}-window_days"] = row.window_days
        form[f"{row.prefix}-mapping"] = row.mapping
    return form


def _measure(tenant: Tenant) -> None:
    host = f"{tenant.slug}.{settings.FULLFIELD_BASE_DOMAIN}"
    client = Client(HTTP_HOST=host)
    with schema_context(tenant.schema_name):
        admin = User.objects.filter(is_staff=True).order_by("id").first()
        assert admin is not None
        client.force_login(admin)
        accounts = Account.objects.count()
    print(f"\n{tenant.slug}: {accounts:,} accounts, {ROUNDS} rounds per page")
    print(f"{'page':34} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}")
    for label, path in _pages(tenant):
        if ONLY not in label:
            continue
        headers = {"HX-Request": "true"} if path.endswith("&hx=1") else {}
        form: dict[str, str] | None = None
        if path.startswith("POST "):
            # The profile editor's preview: its own components, as the form posts them.
            path, form, headers = (
                path.removeprefix("POST "),
                _profile_form(tenant),
                {"HX-Request": "true"},
            )
        timings: list[float] = []
        queries = 0
        for round_number in range(WARMUP + ROUNDS):
            if "nocache=1" in path:
                with schema_context(tenant.schema_name):
                    cache.delete(revenue_cache_key())
                    cache.delete(score_trends_cache_key())
                    cache.delete_many([scorecard_cache_key(squad) for squad in Squad.objects.all()])
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                if form is None:
                    response = client.get(path, headers=headers)
                else:
                    response = client.post(path, form, headers=headers)
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
        print(f"{label:34} {p50:8.1f} {p95:8.1f} {queries:8d}", flush=True)


def main() -> None:
    if not SKIP_DEMO:
        _measure(_tenant(settings.FULLFIELD_DEMO_TENANT, 2000))
    if LARGE_ACCOUNTS:
        _measure(_tenant("bench-large", LARGE_ACCOUNTS, LARGE_MONTHS))


if __name__ == "__main__":
    main()
