"""Pages that compose several apps: the tenant's dashboard; the layout's favicon."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from fullfield.users.signin import ThrottledLoginView
from fullfield.web import charts, selectors

FAVICON = Path(__file__).resolve().parent.parent / "static" / "fullfield" / "favicon.ico"
RENEWAL_WINDOW_DAYS = 90
# Revenue figures take a few hundred milliseconds over a year of terms; the dashboard shows them
# with their "as of" time and recomputes them at most this often (cache keys are per tenant).
REVENUE_CACHE_SECONDS = 300


def revenue_cache_key() -> str:
    return f"web:dashboard:revenue:{timezone.now().date().isoformat()}"


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
    overview = cache.get(revenue_cache_key())
    if not isinstance(overview, selectors.RevenueOverview):
        overview = selectors.revenue_overview()
        cache.set(revenue_cache_key(), overview, timeout=REVENUE_CACHE_SECONDS)
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
    }
    return render(request, "web/dashboard.html", context)
