"""The accounts list in a real Chromium: save a view, reopen it, assign accounts to a squad.

Each page is checked with axe-core (no serious or critical violation) and screenshotted under
test-artifacts/, as in tests/test_browser.py, whose fixtures these tests use.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django_tenants.utils import schema_context

from apps.accounts.models import Account, SavedView
from apps.squads.services import squad_create
from fullfield.tenancy.models import Tenant
from tests.browser import Visit, sign_in

pytestmark = pytest.mark.browser


def test_a_manager_saves_a_view_reopens_it_and_assigns_two_accounts_to_a_squad(
    visit: Visit,
    seeded_tenant: Tenant,
    tenant_server: str,
    django_db_blocker: Any,
) -> None:
    with django_db_blocker.unblock(), schema_context(seeded_tenant.schema_name):
        squad = squad_create(
            data={"name": "Renewal desk", "mission": "Renew", "value_area": "account_based"}
        )
    page = visit.page
    sign_in(visit, tenant_server, seeded_tenant)
    page.goto(f"{tenant_server}/accounts/")
    visit.check("accounts")

    # Sort by MRR, largest first (two clicks on the column), then save the view, shared.
    page.get_by_role("link", name=re.compile(r"^MRR")).click()
    page.wait_for_url(re.compile(r"sort=mrr"))
    page.get_by_role("link", name=re.compile(r"^MRR")).click()
    page.wait_for_url(re.compile(r"sort=-mrr"))
    page.get_by_label("Save these filters and sort as").fill("Largest first")
    page.get_by_label("Share with everyone in this workspace").check()
    page.get_by_role("button", name="Save view").click()
    page.wait_for_url(re.compile(r"/accounts/\?sort=-mrr$"))
    assert "Saved the view “Largest first”." in page.locator(".messages").inner_text()
    visit.check("view-saved")

    # A name already used is refused with the reason next to the field.
    page.get_by_label("Save these filters and sort as").fill("largest FIRST")
    page.get_by_role("button", name="Save view").click()
    assert (
        "already have a saved view with this name" in page.locator("#view-name-errors").inner_text()
    )
    visit.check("view-name-taken")

    # Reopen it from a plain list.
    page.goto(f"{tenant_server}/accounts/")
    page.get_by_role("link", name="Largest first").click()
    page.wait_for_url(re.compile(r"/accounts/\?sort=-mrr$"))
    assert page.get_by_role("link", name="Largest first").get_attribute("aria-current") == "true"
    header = page.locator("th[aria-sort]")
    assert header.get_attribute("aria-sort") == "descending"
    assert header.inner_text().startswith("MRR")

    # Select the first two accounts and assign them to the squad, with a confirmation.
    boxes = page.get_by_test_id("select-account")
    boxes.nth(0).check()
    boxes.nth(1).check()
    rows = page.locator("tbody tr")
    names = [rows.nth(index).get_by_role("link").inner_text() for index in (0, 1)]
    page.get_by_label("Assign the selected accounts to").select_option(label="Renewal desk")
    page.get_by_role("button", name="Assign…").click()
    page.wait_for_url(re.compile(r"/accounts/assign/$"))
    assert page.get_by_test_id("assign-count").inner_text() == "2"
    visit.check("assign-confirmation")
    page.get_by_role("button", name="Assign 2 accounts").click()
    page.wait_for_url(re.compile(r"/accounts/\?sort=-mrr$"))
    assert "Assigned 2 accounts to Renewal desk." in page.locator(".messages").inner_text()
    visit.check("assigned")

    with django_db_blocker.unblock(), schema_context(seeded_tenant.schema_name):
        assigned = sorted(Account.objects.filter(squad_id=squad.pk).values_list("name", flat=True))
        assert assigned == sorted(names)
        saved = SavedView.objects.get()
        assert (saved.name, saved.query, saved.shared) == ("Largest first", "sort=-mrr", True)
