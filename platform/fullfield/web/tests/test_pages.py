"""The tenant's pages as a signed-in person sees them (server side; tests/test_browser.py drives
them in Chromium)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.services.usage import usage_rollup_rebuild
from apps.accounts.tests.factories import (
    AccountFactory,
    OpportunityFactory,
    SubscriptionFactory,
    SurveyResponseFactory,
    TicketFactory,
    UsageEventFactory,
)
from tests.fixtures import TenantClient

pytestmark = pytest.mark.usefixtures("tenant_a")


def today() -> dt.date:
    return timezone.now().date()


def test_signed_out_visitors_are_sent_to_sign_in(client_a: TenantClient) -> None:
    for path in ("/", "/accounts/", "/accounts/1/", "/accounts/export.csv"):
        response = client_a.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/login/"), path


def test_every_page_links_the_favicon_and_the_favicon_is_served(alice_client: TenantClient) -> None:
    page = alice_client.get("/").content.decode()
    assert '<link rel="icon" href="/favicon.ico"' in page
    icon = alice_client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon["Content-Type"] == "image/x-icon"
    body = b"".join(icon.streaming_content)  # type: ignore[attr-defined]
    assert body[:4] == b"\x00\x00\x01\x00"  # the ICO signature


def test_the_layout_names_the_tenant_and_the_signed_in_user_and_links_every_section(
    alice_client: TenantClient,
) -> None:
    page = alice_client.get("/accounts/").content.decode()
    assert "Alpha Corp" in page
    assert "alice@alpha.test" in page or "Administrator" in page
    for href in ('href="/"', 'href="/accounts/" aria-current="page"', 'href="/integrations/"'):
        assert href in page


def test_the_dashboard_shows_mrr_and_the_renewals_of_the_next_ninety_days(
    alice_client: TenantClient,
) -> None:
    renewing = AccountFactory(name="Renewing Soon Ltd")
    SubscriptionFactory(
        account=renewing,
        mrr=Decimal("1234.00"),
        period_start=today() - dt.timedelta(days=300),
        period_end=today() + dt.timedelta(days=20),
    )
    later = AccountFactory(name="Renews Next Year Ltd")
    SubscriptionFactory(
        account=later,
        mrr=Decimal("500.00"),
        period_start=today() - dt.timedelta(days=10),
        period_end=today() + dt.timedelta(days=355),
    )
    page = alice_client.get("/").content.decode()
    assert 'data-testid="kpi-mrr">1,734<' in page
    assert "Renewing Soon Ltd" in page
    assert "Renews Next Year Ltd" not in page
    assert 'data-testid="kpi-renewals">1<' in page


def test_the_accounts_list_filters_by_segment_stage_renewal_and_search(
    alice_client: TenantClient,
) -> None:
    AccountFactory(name="Globex Enterprise", segment="enterprise", lifecycle_stage="adopting")
    AccountFactory(name="Initech Small", segment="smb", lifecycle_stage="churned")
    renewing = AccountFactory(name="Umbrella Renewing", segment="smb", lifecycle_stage="renewing")
    SubscriptionFactory(account=renewing, period_end=today() + dt.timedelta(days=25))

    def names(query: str) -> str:
        return alice_client.get(f"/accounts/?{query}").content.decode()

    offered = names("")
    assert '<option value="enterprise">' in offered and '<option value="smb">' in offered
    assert "Globex" in names("segment=enterprise") and "Initech" not in names("segment=enterprise")
    assert "Initech" in names("stage=churned") and "Globex" not in names("stage=churned")
    assert "Umbrella" in names("renewal=30") and "Initech" not in names("renewal=30")
    assert "Initech" in names("q=initech") and "Globex" not in names("q=initech")


@pytest.mark.parametrize("sort", ["-mrr", "mrr", "renewal", "-renewal", "name", "-created"])
def test_the_accounts_list_pages_by_keyset_without_repeating_or_skipping(
    alice_client: TenantClient, sort: str
) -> None:
    for index in range(120):
        account = AccountFactory(name=f"Paged {index:03}")
        if index % 3:  # some accounts have no term, so no MRR and no renewal date
            SubscriptionFactory(
                account=account,
                mrr=Decimal(index % 7),
                period_end=today() + dt.timedelta(days=index % 5 + 1),
            )
    seen: list[str] = []
    query = f"q=Paged&sort={sort}"
    pages = 0
    while query:
        response = alice_client.get(f"/accounts/?{query}")
        rows = response.context["rows"]
        seen.extend(row.name for row in rows)
        query = response.context["next_query"]
        pages += 1
    assert pages == 3
    assert sorted(seen) == [f"Paged {index:03}" for index in range(120)]
    if sort == "-mrr":
        mrrs = [int(name[-3:]) % 7 if int(name[-3:]) % 3 else 0 for name in seen]
        assert mrrs == sorted(mrrs, reverse=True)


def test_the_accounts_list_reads_a_page_in_a_fixed_number_of_queries(
    alice_client: TenantClient,
) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert alice_client.get("/accounts/").status_code == 200
        return len(captured)

    AccountFactory.create_batch(3)
    few = queries()
    for account in AccountFactory.create_batch(40):
        SubscriptionFactory(account=account)
    assert queries() == few


def test_an_htmx_request_gets_only_the_results_block(alice_client: TenantClient) -> None:
    AccountFactory(name="Partial Co")
    response = alice_client.get("/accounts/?q=Partial", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="results"')
    assert "Partial Co" in body
    assert "<html" not in body


def test_a_damaged_page_link_shows_the_first_page_instead_of_failing(
    alice_client: TenantClient,
) -> None:
    AccountFactory(name="Still Listed")
    response = alice_client.get("/accounts/?after=not-a-cursor")
    assert response.status_code == 200
    assert "Still Listed" in response.content.decode()


def test_the_csv_export_neutralises_cells_a_spreadsheet_would_run(
    alice_client: TenantClient,
) -> None:
    AccountFactory(name='=HYPERLINK("http://evil.example","x")', segment="smb")
    AccountFactory(name="Plain Name", segment="smb")
    response = alice_client.get("/accounts/export.csv?segment=smb")
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:2] == ["id", "name"]
    names = {row[1] for row in rows[1:]}
    assert '\'=HYPERLINK("http://evil.example","x")' in names
    assert "Plain Name" in names


def test_the_account_360_shows_both_halves_and_the_timeline(alice_client: TenantClient) -> None:
    account = AccountFactory.create(name="Whole Picture Inc")
    OpportunityFactory(account=account, name="Expansion 2027", status="open")
    SubscriptionFactory(account=account, plan="Enterprise", mrr=Decimal("900.00"))
    TicketFactory(account=account, subject="Export is slow", opened_at=timezone.now())
    SurveyResponseFactory(account=account, kind="nps", score=9, moment="onboarding")
    UsageEventFactory(account=account, occurred_at=timezone.now() - dt.timedelta(days=2))
    usage_rollup_rebuild(account_ids=[account.pk])
    page = alice_client.get(f"/accounts/{account.pk}/").content.decode()
    for text in ("Whole Picture Inc", "Expansion 2027", "Enterprise", "Export is slow"):
        assert text in page
    assert "onboarding" in page and "NPS" in page
    assert 'data-testid="account-mrr">900<' in page
    assert "1 event in the last 90 days" in page
    assert '<ol class="timeline"' in page and "Export is slow" in page.split("Timeline")[-1]


def test_charlie_gets_404_on_alices_account(charlie_client: TenantClient) -> None:
    account = AccountFactory.create(name="Alpha Only")
    assert charlie_client.get(f"/accounts/{account.pk}/").status_code == 404


def test_the_timeline_shows_older_entries_on_request_without_repeating_any(
    alice_client: TenantClient,
) -> None:
    account = AccountFactory.create(name="Long History")
    now = timezone.now()
    for index in range(30):
        TicketFactory(
            account=account, subject=f"Ticket {index:02}", opened_at=now - dt.timedelta(hours=index)
        )
    page = alice_client.get(f"/accounts/{account.pk}/")
    first = page.context["timeline"]
    assert len(first.entries) == 25 and first.next is not None
    more = alice_client.get(
        f"/accounts/{account.pk}/",
        {"after": first.next.encode()},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "<html" not in more and "Show older entries" not in more
    assert sorted(set(re.findall(r"Ticket \d\d", more))) == [f"Ticket {i}" for i in range(25, 30)]


def test_the_dashboard_reads_revenue_from_the_snapshot_and_says_as_of_when(
    alice_client: TenantClient,
) -> None:
    from apps.accounts.models import RevenueSnapshot, Subscription

    account = AccountFactory.create()
    SubscriptionFactory.create(account=account, mrr=Decimal("300.00"))
    first = alice_client.get("/").content.decode()  # no snapshot yet: the first view computes
    assert 'data-testid="kpi-mrr">300<' in first
    snapshot = RevenueSnapshot.objects.get()
    assert 'data-testid="revenue-as-of"' in first
    assert "newer figures are being computed" not in first
    # A term stored behind the services' back is not in the snapshot until it is refreshed...
    Subscription.objects.create(
        account=account, plan="extra", mrr=Decimal("50"), period_start=today()
    )
    assert 'data-testid="kpi-mrr">300<' in alice_client.get("/").content.decode()
    # ...and a write through them marks it stale, which the page says while a worker refreshes.
    RevenueSnapshot.objects.filter(pk=snapshot.pk).update(stale_since=timezone.now())
    assert "newer figures are being computed" in alice_client.get("/").content.decode()


def test_a_broad_filter_counts_its_accounts_only_up_to_the_cap(
    alice_client: TenantClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fullfield.web import accounts

    monkeypatch.setattr(accounts, "COUNT_CAP", 2)
    for index in range(3):
        AccountFactory.create(name=f"Capped {index}")
    filtered = alice_client.get("/accounts/?q=Capped").content.decode()
    assert 'data-testid="account-total">2+<' in filtered
    whole = alice_client.get("/accounts/").content.decode()
    assert 'data-testid="account-total">3<' in whole
