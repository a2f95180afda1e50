"""Queue triage and squads in a real Chromium: a squad manager works a queue with the keyboard
only, and reads and runs a squad. Every page is checked with axe-core and screenshotted under
test-artifacts/ (fixtures in tests/browser.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.accounts.tests.factories import AccountFactory
from apps.squads.models import Cycle, Member, Squad, WorkItem
from apps.squads.tests.factories import join, make_squad
from fullfield.tenancy.models import Tenant
from fullfield.users.models import User
from tests.browser import Visit
from tests.fixtures import PASSWORD

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Queue:
    squad: Squad
    manager: Member
    colleague: Member
    items: list[int]  # by priority, highest first


def person(email: str, name: str, role: str, level: str) -> Member:
    user = User.objects.create_user(email, PASSWORD, full_name=name)
    return Member.objects.create(user=user, role=role, permission_level=level)


@pytest.fixture
def queue(committed_tenant: Tenant, django_db_blocker: Any) -> Queue:
    """A squad with a manager (Maria) and a colleague, and four open items, one overdue."""
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        squad = make_squad("Enterprise success", value_area="account_based", sla_hours=72)
        maria = person("maria@queue.test", "Maria Lopez", "success", "manager")
        sam = person("sam@queue.test", "Sam Okafor", "sales", "member")
        join(squad, maria, sam)
        now = timezone.now()
        items = []
        for title, priority, sla_hours in (
            ("Save Globex", 48_000, 30),
            ("Prepare the renewal of Initech", 31_000, -5),
            ("Usage dropped at Umbrella", 12_500, 50),
            ("Unblock onboarding at Hooli", 4_200, 70),
        ):
            account = AccountFactory.create(name=title.split()[-1] + " Inc", squad_id=squad.pk)
            items.append(
                WorkItem.objects.create(
                    queue=squad.queue,
                    account=account,
                    title=title,
                    priority=Decimal(priority),
                    priority_basis="expected_loss",
                    sla_due_at=now + dt.timedelta(hours=sla_hours),
                ).pk
            )
    return Queue(squad=squad, manager=maria, colleague=sam, items=items)


def sign_in_as(tab: Visit, base_url: str, email: str) -> None:
    page = tab.page
    page.goto(f"{base_url}/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/")


def focused_item(page: Any) -> str | None:
    value: str | None = page.evaluate("document.activeElement.getAttribute('data-item')")
    return value


def test_a_manager_triages_a_work_item_end_to_end_with_the_keyboard_only(
    visit: Visit,
    committed_tenant: Tenant,
    tenant_server: str,
    queue: Queue,
    django_db_blocker: Any,
) -> None:
    page = visit.page
    first, second, third, fourth = (str(pk) for pk in queue.items)
    sign_in_as(visit, tenant_server, "maria@queue.test")
    page.get_by_role("link", name="Queues").click()
    page.wait_for_url("**/queues/")
    rows = page.get_by_test_id("triage-row")
    assert rows.count() == 4
    assert rows.first.get_attribute("data-item") == first  # the most valuable first
    assert "Overdue" in page.locator(f"#item-{second}").inner_text()
    visit.check("triage")

    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    assert help_dialog.is_visible()
    assert "Claim" in help_dialog.inner_text() and "Complete" in help_dialog.inner_text()
    visit.check("help")
    page.keyboard.press("Escape")
    assert not help_dialog.is_visible()

    # Move: j twice, k once -> the second item.
    page.keyboard.press("j")
    assert focused_item(page) == first
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert focused_item(page) == second

    # Claim it; the list comes back with the item held by Maria, and the position is kept.
    page.keyboard.press("c")
    page.get_by_test_id("triage-message").filter(has_text="claimed").wait_for()
    assert "by you" in page.locator(f"#item-{second}").inner_text()
    assert focused_item(page) == second

    # Complete it: the dialog asks for the outcome and the effort.
    page.keyboard.press("e")
    complete = page.get_by_role("dialog", name="Complete “Prepare the renewal of Initech”")
    assert complete.is_visible()
    visit.check("complete-dialog")
    page.keyboard.type("Renewal agreed, 2-year term")
    page.keyboard.press("Tab")
    page.keyboard.type("40")
    page.keyboard.press("Enter")
    page.get_by_test_id("triage-message").filter(has_text="completed").wait_for()
    assert page.locator(f"#item-{second}").count() == 0
    assert not complete.is_visible()
    assert focused_item(page) == third  # the next item took its place
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        done = WorkItem.objects.get(pk=int(second))
        assert (done.status, done.outcome, done.effort_minutes) == (
            "done",
            "Renewal agreed, 2-year term",
            40,
        )
        assert done.assignee_id == queue.manager.pk

    # Select two items with x and snooze both at once.
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    assert page.get_by_text("2 selected").is_visible()
    page.keyboard.press("s")
    snooze = page.get_by_role("dialog", name="Snooze 2 selected items")
    assert snooze.is_visible()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.get_by_test_id("triage-message").filter(has_text="2 items snoozed").wait_for()
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        statuses = dict(
            WorkItem.objects.filter(pk__in=[int(third), int(fourth)]).values_list("pk", "status")
        )
    assert set(statuses.values()) == {"snoozed"}

    # Sam claims the first item behind Maria's back: her claim loses and says who holds it.
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        WorkItem.objects.filter(pk=int(first)).update(
            status="claimed", assignee=queue.colleague, claimed_at=timezone.now()
        )
    page.keyboard.press("k")
    page.keyboard.press("k")
    page.keyboard.press("k")
    assert focused_item(page) == first
    page.keyboard.press("c")
    page.get_by_test_id("triage-message").filter(has_text="already claimed by").wait_for()
    assert "sam@queue.test" in page.get_by_test_id("triage-message").inner_text()
    assert "by Sam Okafor" in page.locator(f"#item-{first}").inner_text()

    # Assign it back to Maria (a manager may), choosing her in the dialog.
    page.keyboard.press("a")
    assign = page.get_by_role("dialog", name="Assign “Save Globex”")
    assert assign.is_visible()
    page.get_by_label("Member").select_option(label="Maria Lopez (success)")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.get_by_test_id("triage-message").filter(has_text="assigned").wait_for()
    assert "by you" in page.locator(f"#item-{first}").inner_text()
    visit.check("after-triage")


def test_the_list_refreshes_itself_and_keeps_the_keyboard_position(
    visit: Visit,
    committed_tenant: Tenant,
    tenant_server: str,
    queue: Queue,
    django_db_blocker: Any,
) -> None:
    page = visit.page
    sign_in_as(visit, tenant_server, "maria@queue.test")
    page.goto(f"{tenant_server}/queues/")
    page.keyboard.press("j")
    page.keyboard.press("j")
    second = str(queue.items[1])
    assert focused_item(page) == second
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        WorkItem.objects.create(
            queue=queue.squad.queue,
            account=AccountFactory.create(name="Newco"),
            title="Arrived meanwhile",
            priority=Decimal(99_000),
        )
    page.get_by_text("Arrived meanwhile", exact=True).wait_for(timeout=15_000)
    assert page.get_by_test_id("triage-row").count() == 5
    assert focused_item(page) == second


def test_a_manager_reads_the_squads_and_runs_a_cycle_and_a_replica(
    visit: Visit,
    committed_tenant: Tenant,
    tenant_server: str,
    queue: Queue,
    django_db_blocker: Any,
) -> None:
    page = visit.page
    sign_in_as(visit, tenant_server, "maria@queue.test")
    page.get_by_role("link", name="Squads").click()
    page.wait_for_url("**/squads/")
    row = page.get_by_test_id("squad-row")
    assert "2 members: a squad works best with 6 to 10." in row.inner_text()
    visit.check("squads")
    page.get_by_role("link", name="Enterprise success", exact=True).click()
    page.wait_for_url(f"**/squads/{queue.squad.pk}/")
    assert "Maria Lopez" in page.get_by_test_id("member-row").first.inner_text()
    assert "Skill gaps" in page.get_by_test_id("skill-gaps").inner_text()
    scorecard = page.get_by_test_id("scorecard")
    assert "As of" in scorecard.inner_text()
    assert scorecard.locator("svg").count() == 2
    assert page.get_by_test_id("covered-accounts").inner_text() == "4"
    visit.check("squad")

    page.get_by_text("Start a cycle").click()
    page.get_by_label("Name", exact=True).fill("Renewal sprint")
    page.get_by_label("Goal").fill("Every renewal in the next 60 days prepared")
    page.get_by_label("Status").select_option("active")
    page.get_by_role("button", name="Create the cycle").click()
    cycle = page.get_by_test_id("cycle").filter(has_text="Renewal sprint")
    cycle.wait_for()
    page.get_by_label("Lessons learned").fill("Book the business reviews earlier.")
    page.get_by_role("button", name="Close “Renewal sprint” and measure its outcome").click()
    page.get_by_text("Book the business reviews earlier.").wait_for()
    assert "items completed" in page.get_by_test_id("cycle").first.inner_text()
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        assert Cycle.objects.get(squad=queue.squad).status == "closed"
    visit.check("cycle-closed")

    page.get_by_label("Name of the new squad").fill("Mid-market success")
    page.get_by_role("button", name="Replicate “Enterprise success”").click()
    page.get_by_role("heading", name="Mid-market success").wait_for()
    assert "Replicated from" in page.locator("main").inner_text()
    page.get_by_role("link", name="Covered accounts", exact=True).click()
    page.wait_for_url("**/accounts/?squad=*")
    visit.check("replica-accounts")
