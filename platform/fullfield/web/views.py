"""Pages that compose several apps: the tenant's dashboard; the layout's favicon."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from apps.accounts import selectors as account_selectors
from apps.accounts.revenue.overview import RevenueOverview, overview_decode
from apps.accounts.services import revenue as revenue_services
from apps.scoring import selectors as scoring_selectors
from apps.squads import selectors as squad_selectors
from fullfield.users.signin import ThrottledLoginView
from fullfield.web import charts, selectors

FAVICON = Path(__file__).resolve().parent.parent / "static" / "fullfield" / "favicon.ico"
RENEWAL_WINDOW_DAYS = 90
TREND_DAYS = 90
AT_RISK_BANDS = ("poor", "average")
MY_ITEMS_SHOWN = 10
# Score trends read every daily score snapshot of the window (millions of rows on a large
# tenant): recomputed at most this often (cache keys are per tenant).
SCORE_TRENDS_CACHE_SECONDS = 300


def score_trends_cache_key() -> str:
    # Equity sums every account's value and the trends read every daily snapshot of the window.
    return f"web:dashboard:score-trends:{timezone.now().date().isoformat()}"


@require_GET
@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> FileResponse:
    return FileResponse(FAVICON.open("rb"), content_type="image/x-icon")


class SignInView(ThrottledLoginView):
    """The throttled sign-in, with the email filled in when sign-up sends a new admin here."""

    def get_initial(self) -> dict[str, object]:
        initial = super().get_initial()
        email = self.request.GET.get("email", "").strip()
        if email:
            initial["username"] = email[:254]
        return initial


def _thousands(amount: Decimal) -> str:
    return f"{amount:,.0f}"


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    overview, refreshing = _revenue()
    movements = [
        charts.Movement(
            label=period.start.strftime("%b"),
            gained=float(figures.new_mrr + figures.expansion_mrr + figures.reactivated_mrr),
            lost=float(figures.contraction_mrr + figures.churned_mrr),
            title=(
                f"{period.start:%B %Y}: +{_thousands(figures.new_mrr)} new, "
                f"+{_thousands(figures.expansion_mrr)} expansion, "
                f"+{_thousands(figures.reactivated_mrr)} reactivated, "
                f"-{_thousands(figures.contraction_mrr)} contraction, "
                f"-{_thousands(figures.churned_mrr)} churned"
            ),
        )
        for period, figures in overview.months
    ]
    mrr_trend = [
        charts.Point(
            label=period.start.strftime("%b"),
            value=float(figures.closing_mrr),
            title=f"{period.start:%B %Y}: {_thousands(figures.closing_mrr)} {overview.currency}",
        )
        for period, figures in overview.months
    ]
    context = {
        "overview": overview,
        "revenue_refreshing": refreshing,
        "year": overview.trailing_year,
        "month": overview.this_month,
        "months": overview.months,
        "movement_chart": charts.movement_chart(
            movements, label="MRR gained and lost per month over the last twelve months"
        ),
        "mrr_chart": charts.line_chart(
            mrr_trend, label="Closing MRR per month over the last twelve months"
        ),
        "renewals": selectors.renewals_due(within_days=RENEWAL_WINDOW_DAYS),
        **_scores(),
        **_my_work(request),
    }
    return render(request, "web/dashboard.html", context)


def _revenue() -> tuple[RevenueOverview, bool]:
    """The revenue figures from the tenant's snapshot, and whether a newer one is on its way.

    Reading a year of terms takes seconds on a large tenant, so the page never does it except
    on a tenant's very first view; beat and term writes keep the snapshot fresh.
    """
    snapshot = account_selectors.revenue_snapshot_get()
    if snapshot is None or not snapshot.figures:
        snapshot = revenue_services.revenue_snapshot_refresh()
    refreshing = revenue_services.revenue_refresh_due(snapshot=snapshot)
    if refreshing:
        transaction.on_commit(revenue_services.revenue_refresh_request)
    return overview_decode(snapshot.figures), refreshing


def _scores() -> dict[str, Any]:
    """Customer equity, the health distribution (each with its trend) and the renewals of
    accounts in the poor or average band."""
    trends = cache.get(score_trends_cache_key())
    if not isinstance(trends, dict) or "distribution" not in trends:
        trends = {
            "equity_now": scoring_selectors.customer_equity(),
            "equity": scoring_selectors.customer_equity_series(days=TREND_DAYS),
            "bands": scoring_selectors.health_distribution_series(days=TREND_DAYS),
            # Counted over every account's score: with the trends, as of its newest score.
            "distribution": scoring_selectors.health_distribution(),
        }
        cache.set(score_trends_cache_key(), trends, timeout=SCORE_TRENDS_CACHE_SECONDS)
    equity = trends["equity_now"][0] if trends["equity_now"] else None
    series = trends["equity"]
    equity_points = [
        charts.Point(
            label=row["day"].strftime("%d %b"),
            value=float(row["customer_equity"]),
            title=f"{row['day']:%d %b %Y}: {_thousands(row['customer_equity'])}",
        )
        for row in series
    ]
    distribution = trends["distribution"]
    stacks = [
        charts.Stack(
            label=row["day"].strftime("%d %b"),
            parts=(row["poor"], row["average"], row["good"]),
            title=(
                f"{row['day']:%d %b %Y}: {row['poor']} poor, {row['average']} average, "
                f"{row['good']} good"
            ),
        )
        for row in charts.thinned(trends["bands"])
    ]
    at_risk = selectors.renewals_due(within_days=RENEWAL_WINDOW_DAYS, bands=AT_RISK_BANDS)
    health = scoring_selectors.account_current_health(
        account_ids=[row["account_id"] for row in at_risk["rows"]]
    )
    for row in at_risk["rows"]:
        row["health"] = health.get(row["account_id"])
    first_equity = equity_points[0].value if equity_points else None
    return {
        "equity": equity,
        "equity_change": (
            equity_points[-1].value - first_equity
            if first_equity is not None and len(equity_points) > 1
            else None
        ),
        "equity_since": series[0]["day"] if series else None,
        "equity_chart": charts.line_chart(
            charts.thinned(equity_points),
            label=f"Customer equity per day over the last {TREND_DAYS} days",
        ),
        "distribution": distribution,
        "distribution_chart": charts.stacked_bar_chart(
            stacks,
            series=("poor", "average", "good"),
            label=(f"Accounts in the poor, average and good bands over the last {TREND_DAYS} days"),
        ),
        "at_risk": at_risk,
        "trend_days": TREND_DAYS,
    }


def _my_work(request: HttpRequest) -> dict[str, Any]:
    member = squad_selectors.member_of_user(user_id=int(request.user.pk or 0))
    if member is None:
        return {"member": None, "my_items": [], "my_squads": []}
    items = squad_selectors.work_items_of_member(member=member).order_by(
        F("sla_due_at").asc(nulls_last=True), "-priority", "id"
    )
    return {
        "member": member,
        "my_items": list(items[:MY_ITEMS_SHOWN]),
        "my_items_total": items.count(),
        "my_squads": squad_selectors.squads_sla_status(member=member),
        "now": timezone.now(),
    }
