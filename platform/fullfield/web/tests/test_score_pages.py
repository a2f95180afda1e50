"""Scores on the pages: the health explanation and value on the Account 360, health columns,
filters and sorts on the accounts list, equity, health and work on the dashboard."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import Account
from apps.accounts.tests.factories import AccountFactory, SubscriptionFactory
from apps.scoring.models import AccountValue, HealthScore
from apps.scoring.services import (
    health_history_backfill,
    health_profile_default_ensure,
    health_profile_update,
    health_recompute,
)
from apps.scoring.tests.helpers import active_days_component, points, usage, use_components
from apps.scoring.value import account_value_recompute
from apps.squads.tests.factories import MemberFactory, WorkItemFactory, join, make_squad
from fullfield.users.models import User
from fullfield.web.templatetags.fullfield_format import money, percent
from fullfield.web.views import score_trends_cache_key
from tests.fixtures import TenantClient

pytestmark = pytest.mark.usefixtures("tenant_a")


def today() -> dt.date:
    return timezone.now().date()


def with_churn_model() -> None:
    """A fitted churn model on the default profile: churn probabilities, so lifetime values."""
    health_profile_update(
        profile=health_profile_default_ensure(),
        data={},
        churn_model={"intercept": -1.0, "slope": -0.03},
    )


def scored_twice() -> Account:
    """An account scored 60, then 76 after two more active days (the scoring tests' case)."""
    use_components(
        active_days_component(weight=80),
        {"metric": "support_load", "weight": 20, "mapping": points((0, 100), (10, 0))},
    )
    with_churn_model()
    account = AccountFactory.create(name="Explained Co")
    SubscriptionFactory.create(account=account, mrr=Decimal("1000.00"))
    for day in range(5):
        usage(account, day + 3)
    health_history_backfill(days=60, step_days=10)
    health_recompute()
    usage(account, 0)
    usage(account, 1)
    health_recompute()
    account_value_recompute()
    return account


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_account_360_explains_the_health_score_and_why_it_last_changed(
    alice_client: TenantClient,
) -> None:
    account = scored_twice()
    page = alice_client.get(f"/accounts/{account.pk}/").content.decode()
    assert 'data-testid="health-score">76<' in page
    assert 'data-testid="health-band">Good<' in page
    as_of = Account.objects.get(pk=account.pk).health_as_of
    assert as_of is not None and f'datetime="{as_of.isoformat()}"' in page
    words = text_of(page)
    assert re.search(r"Over 180 days [+-]\d+ [↑↓] ?, from \d+ on", words)
    assert "+16 ↑ since" in words and "(was 60). +16: active days up 40%" in words
    assert "Raising Active days to full marks would add up to 24 points." in words or (
        "Raising active days to full marks would add up to 24 points." in words
    )
    # Each component: its raw value in its unit, its score as a bar, weight and points.
    assert "Active days 7 days" in words and "80% 56.0" in words
    assert 'aria-label="Active days: 70 out of 100"' in page
    assert "Support load 0 points" in words
    # The trend line from the history, on a fixed 0..100 scale.
    assert 'aria-label="Health score over the last 180 days, 0 to 100"' in page


def test_the_account_360_shows_roi_clv_churn_probability_and_open_work_items(
    alice_client: TenantClient,
) -> None:
    account = scored_twice()
    WorkItemFactory.create(account=account, title="Call about the renewal")
    WorkItemFactory.create(account=account, title="Already finished", status="done")
    page = alice_client.get(f"/accounts/{account.pk}/").content.decode()
    value = AccountValue.objects.get(account_id=account.pk)
    assert f'data-testid="account-clv">{money(value.clv)}<' in page
    assert f'data-testid="account-roi">{percent(value.roi, 0)}<' in page
    churn = HealthScore.objects.get(account_id=account.pk).churn_probability
    assert churn is not None and value.clv is not None
    assert f'data-testid="churn-probability">{percent(churn)} in the next 30 days<' in page
    assert "Call about the renewal" in page and "Already finished" not in page


def test_an_unscored_account_says_so_instead_of_showing_a_score(
    alice_client: TenantClient,
) -> None:
    account = AccountFactory.create()
    page = alice_client.get(f"/accounts/{account.pk}/").content.decode()
    assert 'data-testid="health-none"' in page and "health-score" not in page
    assert "No value figures yet" in page and "No open work items." in page


def set_health(account: Account, score: float | None, trend: float | None = None) -> None:
    band = "" if score is None else "good" if score >= 70 else "average" if score >= 40 else "poor"
    Account.objects.filter(pk=account.pk).update(
        health_score=score,
        health_band=band,
        health_trend=trend,
        health_as_of=timezone.now() if score is not None else None,
    )


def test_the_accounts_list_shows_each_score_with_its_band_trend_and_time(
    alice_client: TenantClient,
) -> None:
    account = scored_twice()
    AccountFactory.create(name="Never Scored")
    page = alice_client.get("/accounts/").content.decode()
    row = page.split("Explained Co")[1].split("</tr>")[0]
    assert "76 · Good" in row and "as of <time datetime=" in row
    assert "Not scored" in page or "not scored" in page.split("Never Scored")[1].split("</tr>")[0]
    trend = Account.objects.get(pk=account.pk).health_trend
    assert trend is not None and f"{trend:+.0f} {'↑' if trend > 0 else '↓'}" in row


def test_the_accounts_list_filters_by_band_and_by_squad(alice_client: TenantClient) -> None:
    healthy = AccountFactory.create(name="Healthy One")
    set_health(healthy, 85)
    struggling = AccountFactory.create(name="Struggling One")
    set_health(struggling, 20)
    middling = AccountFactory.create(name="Middling One")
    set_health(middling, 50)
    squad = make_squad("Saves")
    Account.objects.filter(pk=struggling.pk).update(squad_id=squad.pk)

    def names(query: str) -> str:
        return text_of(alice_client.get(f"/accounts/?{query}").content.decode())

    assert (
        '<option value="' + str(squad.pk) + '">Saves</option>'
        in alice_client.get("/accounts/").content.decode()
    )
    poor = names("band=poor")
    assert "Struggling One" in poor and "Healthy One" not in poor
    both = names("band=poor&band=average")
    assert "Struggling One" in both and "Middling One" in both and "Healthy One" not in both
    in_squad = names(f"squad={squad.pk}")
    assert "Struggling One" in in_squad and "Middling One" not in in_squad
    assert "No account matches" in names("squad=999999")


@pytest.mark.parametrize("sort", ["score", "-score", "trend", "-trend"])
def test_the_accounts_list_pages_by_score_and_trend_without_repeating_or_skipping(
    alice_client: TenantClient, sort: str
) -> None:
    for index in range(120):
        account = AccountFactory.create(name=f"Scored {index:03}")
        if index % 4:  # a quarter unscored
            set_health(account, float(index % 9) * 10 + 0.5, trend=float(index % 5) - 2)
    seen: list[Account] = []
    query = f"q=Scored&sort={sort}"
    pages = 0
    while query:
        response = alice_client.get(f"/accounts/?{query}")
        seen.extend(response.context["rows"])
        query = response.context["next_query"]
        pages += 1
    assert pages == 3
    assert sorted(row.name for row in seen) == [f"Scored {index:03}" for index in range(120)]
    if sort.endswith("score"):
        scores = [row.health_score for row in seen if row.health_score is not None]
        assert scores == sorted(scores, reverse=sort.startswith("-"))
        # Unscored accounts come last whichever way the list is sorted.
        assert all(row.health_score is None for row in seen[len(scores) :])
    else:
        trends = [row.health_trend or 0 for row in seen]
        assert trends == sorted(trends, reverse=sort.startswith("-"))


def test_the_dashboard_shows_equity_health_bands_and_the_renewals_at_risk(
    alice_client: TenantClient,
) -> None:
    at_risk = AccountFactory.create(name="Renewing Poorly")
    SubscriptionFactory.create(
        account=at_risk, mrr=Decimal("500.00"), period_end=today() + dt.timedelta(days=20)
    )
    safe = AccountFactory.create(name="Renewing Happily")
    SubscriptionFactory.create(
        account=safe, mrr=Decimal("700.00"), period_end=today() + dt.timedelta(days=20)
    )
    use_components(active_days_component(weight=1))
    with_churn_model()
    for day in range(12):
        usage(safe, day)
    health_recompute()  # no usage: 0 (poor); 12 active days: 100 (good)
    account_value_recompute()
    cache.delete(score_trends_cache_key())  # trends cached by an earlier run of this test
    page = alice_client.get("/").content.decode()
    assert 'data-testid="kpi-poor">1<' in page and 'data-testid="kpi-good">1<' in page
    assert 'data-testid="kpi-at-risk">1<' in page
    at_risk_table = page.split('id="at-risk-heading"')[1].split("</section>")[0]
    assert "Renewing Poorly" in at_risk_table and "Renewing Happily" not in at_risk_table
    assert "0 · Poor" in at_risk_table
    equity = sum(value.clv or 0 for value in AccountValue.objects.all())
    assert equity > 0 and f'data-testid="kpi-equity">{money(equity)}<' in page
    assert 'data-testid="scores-as-of"' in page
    # One day of values so far: no line yet; one scored day: one stack per band.
    assert "Not enough data for a trend yet." in page.split('id="equity-heading"')[1]
    distribution = page.split('id="distribution-heading"')[1].split("</section>")[0]
    assert "1 poor, 0 average, 1 good" in distribution


def test_the_dashboard_lists_my_open_items_and_my_squads_sla(
    alice_client: TenantClient,
) -> None:
    alice = MemberFactory.create(user=User.objects.get(email="alice@alpha.test"))
    squad = make_squad("Renewals desk", sla_hours=24)
    join(squad, alice)
    late = WorkItemFactory.create(
        queue=squad.queue,
        title="Late follow-up",
        status="claimed",
        assignee=alice,
        sla_due_at=timezone.now() - dt.timedelta(hours=2),
    )
    WorkItemFactory.create(queue=squad.queue, title="Someone else's", sla_due_at=timezone.now())
    WorkItemFactory.create(queue=squad.queue, title="Done already", status="done", assignee=alice)
    page = alice_client.get("/").content.decode()
    mine = page.split('data-testid="my-items"')[1].split("</ul>")[0]
    assert "Late follow-up" in mine and "overdue since" in mine
    assert "Someone else" not in mine and "Done already" not in mine
    assert late.account.name in mine
    sla = page.split('data-testid="squad-sla">')[1].split("</tr>")[0]
    cells = [text_of(cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", sla)]
    assert cells == ["Renewals desk", "2", "2", "0", "24 h"]


def test_a_person_outside_every_squad_is_told_so_on_the_dashboard(
    alice_client: TenantClient,
) -> None:
    page = alice_client.get("/").content.decode()
    assert "You are not a squad member" in page and "You are in no squad." in page


def test_the_account_360_and_the_dashboard_read_work_items_in_a_fixed_number_of_queries(
    alice_client: TenantClient,
) -> None:
    alice = MemberFactory.create(user=User.objects.get(email="alice@alpha.test"))
    squad = make_squad("Counted")
    join(squad, alice)
    account = scored_twice()

    def queries(path: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert alice_client.get(path).status_code == 200
        return len(captured)

    WorkItemFactory.create(queue=squad.queue, account=account, assignee=alice, status="claimed")
    queries("/")  # the dashboard's cached figures are computed once
    few = (queries(f"/accounts/{account.pk}/"), queries("/"))
    for _ in range(5):
        WorkItemFactory.create(queue=squad.queue, account=account, assignee=alice, status="claimed")
    assert (queries(f"/accounts/{account.pk}/"), queries("/")) == few
