"""The Field page in a real Chromium: the whole field on demo-like data, a filter, and a number
followed to the accounts behind it (axe-checked, full-page screenshots in test-artifacts/)."""

from __future__ import annotations

import re

import pytest

from fullfield.tenancy.models import Tenant
from tests.browser import Visit, sign_in

pytestmark = pytest.mark.browser

BACK_HALF_STEPS = ("won", "live", "renewed", "expanded", "churned", "converted")


def test_a_revenue_leader_reads_the_whole_field_and_follows_a_number(
    visit: Visit, seeded_tenant: Tenant, tenant_server: str
) -> None:
    sign_in(visit, tenant_server, seeded_tenant)
    page = visit.page
    page.get_by_role("link", name="Field", exact=True).click()
    page.wait_for_url("**/field/")
    assert page.get_by_role("heading", name="The whole field").is_visible()
    funnel = page.get_by_role("group", name=re.compile("The field from lead to churn"))
    assert funnel.locator("text=Front half: acquisition").count() == 1
    assert funnel.locator("text=Back half: keep and grow").count() == 1
    assert page.get_by_test_id("funnel-table").locator("tbody tr").count() == 11
    assert page.get_by_test_id("cohort-table").locator("tbody tr").count() >= 1
    assert page.locator("svg.sparkline").count() >= 1
    visit.check("field")

    page.evaluate("window.__marker = 'same page'")
    page.get_by_label("Period").select_option("3")
    page.wait_for_url("**months=3**")
    page.get_by_test_id("field-period").wait_for()
    assert page.evaluate("window.__marker") == "same page"  # htmx swapped the report only
    visit.check("field-last-3-months")
    page.get_by_label("Period").select_option("12")
    page.wait_for_url("**months=12**")

    step = next(
        key
        for key in BACK_HALF_STEPS
        if int(page.get_by_test_id(f"accounts-{key}").inner_text().replace(",", "")) > 0
    )
    accounts = page.get_by_test_id(f"accounts-{step}").inner_text()
    page.get_by_test_id(f"step-{step}").click()
    page.wait_for_url(re.compile(rf".*/accounts/\?field=step(%3A|:){step}.*"))
    assert "Accounts that reached" in page.get_by_test_id("field-filter").inner_text()
    assert page.get_by_test_id("account-total").inner_text() == accounts
    visit.check("accounts-behind-a-field-number")
