"""The Field page on the hand-built book of apps/accounts/tests/field_book.py, and its numbers'
links to the accounts behind them."""

from __future__ import annotations

import html
import re
import uuid

import pytest
from django.core.cache import cache

from apps.accounts.models import Account
from apps.accounts.tests.field_book import Book, build_book, store_adoption
from fullfield.web import field
from tests.fixtures import TenantClient


@pytest.fixture(params=("scanned", "stored"))
def book(request: pytest.FixtureRequest, tenant_a: object, monkeypatch: pytest.MonkeyPatch) -> Book:
    # Each test builds the book anew (new ids): no report kept from another test, including one
    # that a page test cached in this tenant a moment ago under the same filters.
    monkeypatch.setattr(field, "REPORT_CACHE_SECONDS", 0)
    unkept = field.field_cache_key
    token = uuid.uuid4().hex
    monkeypatch.setattr(field, "field_cache_key", lambda filters: f"{unkept(filters)}:{token}")
    built = build_book()
    store_adoption(request.param)
    return built


def href_of(page: str, testid: str) -> str:
    found = re.search(rf'<a href="([^"]+)" data-testid="{testid}">', page)
    assert found, testid
    return html.unescape(found.group(1))


def account_names(page: str) -> set[str]:
    return set(re.findall(r'<td><a href="/accounts/\d+/"[^>]*>([^<]+)</a>', page))


def test_the_field_page_draws_both_halves_cohorts_leaks_and_moments(
    alice_client: TenantClient, book: Book
) -> None:
    response = alice_client.get("/field/")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'href="/field/" aria-current="page"' in page
    assert "Front half: acquisition" in page
    assert "Back half: keep and grow" in page
    assert 'class="chart funnel"' in page
    assert re.search(r'data-testid="step-lead">4<', page)  # four leads in the last year
    assert re.search(r'data-testid="step-won">2<', page)
    assert 'data-testid="cohort-table"' in page
    assert "Feb 2026" in page and "Mar 2026" in page
    assert 'data-testid="leak-churned"' in page
    assert "Frost" in page  # churned, and lost a deal
    assert 'class="sparkline"' in page
    assert "relationship" in page


def test_a_number_links_to_the_accounts_behind_it(alice_client: TenantClient, book: Book) -> None:
    page = alice_client.get("/field/").content.decode()

    won = alice_client.get(href_of(page, "step-won"))

    assert won.status_code == 200
    listing = won.content.decode()
    assert account_names(listing) == {"Acme", "Bolt"}
    assert 'data-testid="field-filter"' in listing
    assert "reached “Won”" in listing
    # The link survives the list's own filters: smb narrows the two to Acme.
    narrowed = alice_client.get(href_of(page, "step-won") + "&segment=smb")
    assert account_names(narrowed.content.decode()) == {"Acme"}
    churned = alice_client.get(href_of(page, "step-churned")).content.decode()
    assert account_names(churned) == {"Frost"}


def test_filters_narrow_the_report_and_htmx_gets_only_the_report(
    alice_client: TenantClient, book: Book
) -> None:
    smb = alice_client.get("/field/?segment=smb", HTTP_HX_REQUEST="true")

    assert smb.status_code == 200
    part = smb.content.decode()
    assert part.lstrip().startswith('<div id="report"')
    assert "<html" not in part
    assert re.search(r'data-testid="step-lead">1<', part)  # only Acme's lead has an smb account
    assert re.search(r'data-testid="step-churned">0<', part)  # Frost is enterprise
    assert "segment smb" in part
    squad = book.accounts["acme"].squad_id
    by_squad = alice_client.get(f"/field/?squad={squad}").content.decode()
    assert re.search(r'data-testid="step-won">1<', by_squad)
    # The last three months hold none of the book; an unknown period is the last twelve.
    recent = alice_client.get("/field/?months=3").content.decode()
    assert re.search(r'data-testid="step-lead">0<', recent)
    fallback = alice_client.get("/field/?months=999").content.decode()
    assert re.search(r'data-testid="step-lead">4<', fallback)


def test_a_damaged_field_link_is_a_clear_400(alice_client: TenantClient, book: Book) -> None:
    for query in (
        "field=step:won&field_period=2026-01-01..2026-04-01&field_as_of=nonsense",
        "field=step:signed&field_period=2026-01-01..2026-04-01&field_as_of=2026-06-30",
        "field=teleport:won&field_period=2026-01-01..2026-04-01&field_as_of=2026-06-30",
        "field=step:won&field_period=2026-04-01..2026-01-01&field_as_of=2026-06-30",
    ):
        refused = alice_client.get(f"/accounts/?{query}")
        assert refused.status_code == 400, query
        assert "This link to the accounts behind a number is damaged" in refused.content.decode()
    signed = alice_client.get(
        "/accounts/export.csv?field=step:signed&field_period=2026-01-01..2026-04-01"
        "&field_as_of=2026-06-30"
    )
    assert signed.status_code == 400
    assert "No funnel step &#x27;signed&#x27;" in signed.content.decode()


def test_another_tenant_sees_none_of_the_book(
    alice_client: TenantClient, charlie_client: TenantClient, book: Book
) -> None:
    frost = book.accounts["frost"]
    squad = book.accounts["acme"].squad_id

    page = charlie_client.get(f"/field/?squad={squad}").content.decode()

    assert "Frost" not in page and "Acme" not in page
    assert re.search(r'data-testid="step-won">0<', page)
    # The rows Alice's page links to are not Charlie's.
    assert f'href="/accounts/{frost.pk}/"' in alice_client.get("/field/").content.decode()
    assert charlie_client.get(f"/accounts/{frost.pk}/").status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(client_a: TenantClient) -> None:
    response = client_a.get("/field/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_report_is_kept_a_few_minutes_and_says_when_it_was_computed(
    alice_client: TenantClient, book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(field, "REPORT_CACHE_SECONDS", 300)
    key = field.field_cache_key(field._filters(alice_client.get("/field/").wsgi_request))
    cache.delete(key)
    try:
        first = alice_client.get("/field/").content.decode()
        Account.objects.filter(pk=book.accounts["frost"].pk).update(name="Frost Renamed")
        again = alice_client.get("/field/").content.decode()
        cache.delete(key)
        fresh = alice_client.get("/field/").content.decode()
    finally:
        cache.delete(key)
    computed = re.search(r"computed <time datetime=\"([^\"]+)\"", first)
    assert computed and computed.group(1) in again
    assert "Frost Renamed" not in again  # the kept report, dated
    assert "Frost Renamed" in fresh


def test_the_page_says_when_the_adoption_days_it_read_were_stored(
    alice_client: TenantClient, book: Book, request: pytest.FixtureRequest
) -> None:
    page = alice_client.get("/field/").content.decode()

    stored = request.node.callspec.params["book"] == "stored"
    assert ('data-testid="adoption-as-of"' in page) is stored
