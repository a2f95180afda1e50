"""The demo tenant's scores: every account scored, with daily history behind its trend."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.utils import timezone

from apps.accounts.models import Account
from apps.accounts.seed.writer import tenant_seed
from apps.scoring.demo import DEMO_HISTORY_DAYS, seed_scores
from apps.scoring.models import Calibration, HealthScore, HealthSnapshot
from apps.scoring.selectors import health_distribution_series
from tests.fixtures import TenantClient

pytestmark = pytest.mark.usefixtures("tenant_a")


def test_the_demo_has_daily_history_so_every_account_shows_its_30_day_change(
    alice_client: TenantClient,
) -> None:
    tenant_seed(anchor=timezone.now().date(), accounts=60, months=8, seed=5, usage_scale=0.2)
    output = io.StringIO()

    seed_scores(stdout=output)

    assert output.getvalue().startswith("demo scores: 60 accounts scored, 180 days of daily")
    today = timezone.now().date()
    days = set(HealthSnapshot.objects.filter(band_change=False).values_list("day", flat=True))
    assert days == {today - dt.timedelta(days=back) for back in range(DEMO_HISTORY_DAYS + 1)}
    assert Calibration.objects.exists()
    scored = Account.objects.filter(pk__in=HealthScore.objects.values("account_id"))
    with_trend = scored.filter(health_trend__isnull=False)
    assert with_trend.count() == scored.count() == 60
    # The change is today's score minus the one 30 days ago, as the list says.
    account = with_trend.exclude(health_trend=0).order_by("pk").first()
    assert account is not None and account.health_score is not None
    before = HealthSnapshot.objects.get(
        account=account, day=today - dt.timedelta(days=30), band_change=False
    )
    assert account.health_trend == round(account.health_score - before.score, 1)
    # The dashboard's band trend has a point for each of the last 30 days.
    assert len(health_distribution_series(days=30)) == 30
    page = alice_client.get("/accounts/?sort=trend")
    assert page.status_code == 200
    assert page.content.decode().count('<div class="small muted">30 days</div>') >= 25
