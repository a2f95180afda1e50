"""The queue triage and squads pages, server side (tests/test_browser_queues.py drives them in
Chromium): what each person sees, what they may do, and a fixed number of queries per page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import dateformat, timezone

from apps.accounts.models import Touchpoint
from apps.accounts.tests.factories import AccountFactory
from apps.squads import tasks
from apps.squads.models import Cycle, Member, Squad, WorkItem
from apps.squads.scorecards import scorecard_store_key
from apps.squads.tests.factories import MemberFactory, UserFactory, join, make_squad
from tests.fixtures import TenantClient, World

pytestmark = pytest.mark.usefixtures("tenant_a")

HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def form_posts(
    alice_client: TenantClient, bob_client: TenantClient, charlie_client: TenantClient
) -> None:
    """The pages' forms post form-encoded bodies, as a browser does (not the API's JSON)."""
    for client in (alice_client, bob_client, charlie_client):
        client.default_format = "multipart"


@pytest.fixture
def as_member(world: World) -> Callable[[Member], TenantClient]:
    def client_for(member: Member) -> TenantClient:
        client = TenantClient(world.tenant_a)
        client.default_format = "multipart"
        client.force_login(member.user)
        return client

    return client_for


def item(
    squad: Squad, title: str, *, priority: int = 0, sla_hours: float = 48, **fields: object
) -> WorkItem:
    return WorkItem.objects.create(
        queue=squad.queue,
        account=AccountFactory.create(),
        title=title,
        priority=Decimal(priority),
        sla_due_at=timezone.now() + dt.timedelta(hours=sla_hours),
        **fields,
    )


def act(client: TenantClient, action: str, *items: WorkItem, **data: object) -> tuple[int, str]:
    response = client.post(
        "/queues/act/",
        {"action": action, "item": [i.pk for i in items], **data},
        headers=HTMX,
    )
    return response.status_code, response.content.decode()


def test_triage_shows_my_items_and_my_squads_items_by_priority_with_overdue_marked(
    as_member: Callable[[Member], TenantClient],
) -> None:
    mine, other = make_squad("Mine"), make_squad("Other")
    maria = MemberFactory.create()
    join(mine, maria)
    item(mine, "Low value", priority=100)
    item(mine, "High value", priority=900)
    item(mine, "Late one", priority=500, sla_hours=-2)
    item(other, "Not my squad", priority=5000)
    item(other, "Held by me elsewhere", priority=50, status="claimed", assignee=maria)

    page = as_member(maria).get("/queues/").content.decode()

    order = ["High value", "Late one", "Low value", "Held by me elsewhere"]
    assert [page.index(title) for title in order] == sorted(page.index(t) for t in order)
    assert "Not my squad" not in page
    assert "1 overdue" in page
    assert "<strong>Overdue</strong> since" in page
    by_sla = as_member(maria).get("/queues/?sort=sla").content.decode()
    assert by_sla.index("Late one") < by_sla.index("High value")
    only_mine = as_member(maria).get("/queues/?scope=mine").content.decode()
    assert "Held by me elsewhere" in only_mine and "High value" not in only_mine


def test_an_htmx_refresh_gets_only_the_list(as_member: Callable[[Member], TenantClient]) -> None:
    squad = make_squad()
    member = MemberFactory.create()
    join(squad, member)
    item(squad, "Refreshed")
    body = as_member(member).get("/queues/", headers=HTMX).content.decode()
    assert body.lstrip().startswith('<section id="triage"')
    assert "Refreshed" in body and "<html" not in body
    assert 'hx-trigger="every 5s' in body


def test_a_member_claims_snoozes_and_completes_an_item_inline(
    as_member: Callable[[Member], TenantClient],
) -> None:
    squad = make_squad()
    member = MemberFactory.create()
    join(squad, member)
    work = item(squad, "Call the champion")
    client = as_member(member)

    status, body = act(client, "claim", work)
    assert status == 200
    assert "“Call the champion” claimed." in body and 'hx-swap-oob="true"' in body
    work.refresh_from_db()
    assert (work.status, work.assignee_id) == ("claimed", member.pk)

    status, _ = act(client, "snooze", work, until="1d")
    work.refresh_from_db()
    assert status == 200 and work.status == "snoozed"
    assert work.snoozed_until is not None
    assert work.snoozed_until > timezone.now() + dt.timedelta(hours=23)

    status, body = act(client, "complete", work, outcome="Champion re-engaged", effort_minutes=25)
    assert status == 200 and "completed." in body
    work.refresh_from_db()
    assert (work.status, work.outcome, work.effort_minutes) == ("done", "Champion re-engaged", 25)
    assert work.touchpoint_id is not None
    assert Touchpoint.objects.filter(pk=work.touchpoint_id, effort_minutes=25).exists()
    assert "Call the champion" not in body.split('id="triage-message"')[0]


def test_completing_asks_for_the_outcome_and_the_effort(
    as_member: Callable[[Member], TenantClient],
) -> None:
    squad = make_squad()
    member = MemberFactory.create()
    join(squad, member)
    work = item(squad, "Needs an outcome")
    status, body = act(as_member(member), "complete", work, outcome="", effort_minutes="")
    assert status == 400
    assert "Say what came of it." in body and "effort in minutes" in body
    status, body = act(as_member(member), "complete", work, outcome="Done", effort_minutes="-5")
    assert status == 400 and "greater than or equal to 0" in body
    work.refresh_from_db()
    assert work.status == "open"


def test_a_lost_claim_race_names_who_holds_the_item(
    as_member: Callable[[Member], TenantClient],
) -> None:
    squad = make_squad()
    first = MemberFactory.create(user=UserFactory.create(full_name="Maria Lopez"))
    second = MemberFactory.create()
    join(squad, first, second)
    work = item(squad, "Contested")
    assert act(as_member(first), "claim", work)[0] == 200
    status, body = act(as_member(second), "claim", work)
    assert status == 409
    assert f"already claimed by {first.user.email}" in body
    assert "by Maria Lopez" in body.split('id="triage-message"')[0]  # the row says who, too


def test_assign_and_bulk_actions_report_each_item(
    as_member: Callable[[Member], TenantClient],
) -> None:
    squad = make_squad()
    lead = MemberFactory.create(permission_level="manager")
    helper = MemberFactory.create()
    outsider = MemberFactory.create()
    join(squad, lead, helper)
    first, second = item(squad, "First"), item(squad, "Second")
    taken = item(squad, "Taken", status="claimed", assignee=helper)
    client = as_member(lead)

    status, body = act(client, "claim", first, second, taken)
    assert status == 200
    assert "2 items claimed. 1 refused: “Taken”: " in body
    status, _ = act(client, "assign", first, assignee=helper.pk)
    first.refresh_from_db()
    assert status == 200 and first.assignee_id == helper.pk
    status, body = act(client, "assign", second, assignee=outsider.pk)
    assert status == 400 and "is not in this item" in body


def test_a_member_without_rights_cannot_act(
    as_member: Callable[[Member], TenantClient], bob_client: TenantClient
) -> None:
    squad, elsewhere = make_squad("Theirs"), make_squad("Elsewhere")
    stranger = MemberFactory.create()
    reader = MemberFactory.create(permission_level="read_only")
    join(elsewhere, stranger)
    join(squad, reader)
    work = item(squad, "Not yours")
    status, body = act(as_member(stranger), "claim", work)
    assert status == 403 and "only work items of your own squads" in body
    status, body = act(as_member(reader), "complete", work, outcome="x", effort_minutes=1)
    assert status == 403
    status, _ = act(bob_client, "claim", work)  # signed in, but no member profile
    assert status == 403
    work.refresh_from_db()
    assert (work.status, work.assignee_id) == ("open", None)


def test_another_tenants_items_and_squads_are_not_found(
    charlie_client: TenantClient, as_member: Callable[[Member], TenantClient]
) -> None:
    squad = make_squad()
    work = item(squad, "Alpha's")
    assert (
        charlie_client.post("/queues/act/", {"action": "claim", "item": [work.pk]}).status_code
        == 404
    )
    assert charlie_client.get(f"/squads/{squad.pk}/").status_code == 404
    assert (
        charlie_client.post(f"/squads/{squad.pk}/replicate/", {"name": "Copy"}).status_code == 404
    )


def test_signed_out_visitors_are_sent_to_sign_in(client_a: TenantClient) -> None:
    for path in ("/queues/", "/squads/", "/squads/1/"):
        response = client_a.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), path


def test_the_squads_list_shows_size_and_skill_gap_warnings(alice_client: TenantClient) -> None:
    small = make_squad("Small one", value_area="design_support")
    join(small, MemberFactory.create(role="product"))
    page = alice_client.get("/squads/").content.decode()
    assert 'href="/squads/"' in page and "Small one" in page
    assert "1 members: a squad works best with 6 to 10." in page
    assert "Skill gaps: service, communications, success" in page
    assert f'href="/accounts/?squad={small.pk}"' in page


def test_a_squads_page_shows_members_coverage_and_a_scorecard_with_charts(
    alice_client: TenantClient,
) -> None:
    squad = make_squad("Growth")
    join(squad, MemberFactory.create(role="sales", user=UserFactory.create(full_name="Sam Okafor")))
    AccountFactory.create(squad_id=squad.pk)
    page = alice_client.get(f"/squads/{squad.pk}/").content.decode()
    assert "Sam Okafor" in page and "Sales" in page
    assert f'href="/accounts/?squad={squad.pk}" data-testid="covered-accounts">1</a>' in page
    assert "As of <time" in page
    assert page.count("<svg") >= 2
    assert "Skill gaps: the mission needs" in page


def test_a_squads_page_shows_the_scorecard_beat_stored_with_its_time_until_the_next_refresh(
    alice_client: TenantClient,
) -> None:
    squad = make_squad("Growth")
    AccountFactory.create(squad_id=squad.pk)
    assert tasks.scorecards_refresh.run() == Squad.objects.count()
    _, measured_at = cache.get(scorecard_store_key(squad))
    AccountFactory.create(squad_id=squad.pk)

    stored = alice_client.get(f"/squads/{squad.pk}/").content.decode()
    tasks.scorecards_refresh.run()
    refreshed = alice_client.get(f"/squads/{squad.pk}/").content.decode()

    # The page shows what was measured, and when, not a figure measured for the request.
    assert 'data-testid="covered-accounts">1</a>' in stored
    assert f'<time datetime="{dateformat.format(timezone.localtime(measured_at), "c")}"' in stored
    assert 'data-testid="covered-accounts">2</a>' in refreshed


def test_beat_refreshes_every_tenants_squad_scorecards_every_five_minutes() -> None:
    entries = [
        entry
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["args"] == ["squads.scorecards_refresh"]
    ]
    assert entries == [
        {"task": "fullfield.fan_out", "schedule": 300.0, "args": ["squads.scorecards_refresh"]}
    ]


def test_a_manager_starts_and_closes_a_cycle_and_replicates_the_squad(
    alice_client: TenantClient,
) -> None:
    squad = make_squad("Growth")
    today = timezone.now().date()
    response = alice_client.post(
        f"/squads/{squad.pk}/cycles/",
        {
            "name": "Cycle 1",
            "goal": "Lift onboarding",
            "starts_on": today.isoformat(),
            "ends_on": (today + dt.timedelta(days=13)).isoformat(),
            "status": "active",
        },
        format="multipart",
    )
    assert response.status_code == 302
    cycle = Cycle.objects.get(squad=squad)
    refused = alice_client.post(
        f"/squads/{squad.pk}/cycles/",
        {
            "name": "Cycle 2",
            "goal": "Overlap",
            "starts_on": today.isoformat(),
            "ends_on": today.isoformat(),
            "status": "active",
        },
        format="multipart",
    )
    assert refused.status_code == 400 and "already has an active cycle" in refused.content.decode()
    bad = alice_client.post(f"/squads/{squad.pk}/cycles/{cycle.pk}/close/", {"lessons": ""})
    assert bad.status_code == 400 and "This field is required." in bad.content.decode()
    closed = alice_client.post(
        f"/squads/{squad.pk}/cycles/{cycle.pk}/close/", {"lessons": "Call earlier."}
    )
    assert closed.status_code == 302
    cycle.refresh_from_db()
    assert cycle.status == "closed" and cycle.lessons == "Call earlier." and cycle.outcome
    page = alice_client.get(f"/squads/{squad.pk}/").content.decode()
    assert "Call earlier." in page and "items completed" in page

    replica = alice_client.post(f"/squads/{squad.pk}/replicate/", {"name": "Growth East"})
    assert replica.status_code == 302
    copy = Squad.objects.get(name="Growth East")
    assert copy.replicated_from_id == squad.pk
    assert replica["Location"] == f"/squads/{copy.pk}/"
    again = alice_client.post(f"/squads/{squad.pk}/replicate/", {"name": "Growth East"})
    assert again.status_code == 400 and "Already used." in again.content.decode()


def test_a_member_cannot_manage_cycles_or_replicate(
    as_member: Callable[[Member], TenantClient],
) -> None:
    squad = make_squad()
    member = MemberFactory.create()
    join(squad, member)
    client = as_member(member)
    page = client.get(f"/squads/{squad.pk}/").content.decode()
    assert "Replicate this squad" not in page and "Start a cycle" not in page
    assert client.post(f"/squads/{squad.pk}/replicate/", {"name": "Copy"}).status_code == 403
    assert client.post(f"/squads/{squad.pk}/cycles/", {"name": "C"}).status_code == 403
    assert not Squad.objects.filter(name="Copy").exists()


def _queries(client: TenantClient, path: str) -> int:
    for squad in Squad.objects.all():  # the scorecard is measured, not read from the cache
        cache.delete(scorecard_store_key(squad))
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


def test_each_page_reads_in_a_fixed_number_of_queries_however_many_rows(
    as_member: Callable[[Member], TenantClient],
) -> None:
    squad = make_squad("Counted")
    member = MemberFactory.create(permission_level="manager")
    join(squad, member)
    for n in range(3):
        item(squad, f"Item {n}", status="claimed", assignee=member)
    AccountFactory.create(squad_id=squad.pk)
    client = as_member(member)
    paths = ("/queues/", "/squads/", f"/squads/{squad.pk}/")
    for path in paths:  # the first request of a process reads settings it then keeps
        client.get(path)
    few = {path: _queries(client, path) for path in paths}

    for n in range(30):
        item(
            squad,
            f"More {n}",
            priority=n,
            status="claimed" if n % 2 else "open",
            assignee=member if n % 2 else None,
        )
    for n in range(5):
        AccountFactory.create(squad_id=squad.pk)
        extra = make_squad(f"Extra {n}")
        join(extra, MemberFactory.create())
        join(squad, MemberFactory.create(role="sales"))
        Cycle.objects.create(
            squad=squad,
            name=f"C{n}",
            goal="g",
            starts_on=timezone.now().date(),
            ends_on=timezone.now().date(),
        )
    many = {path: _queries(client, path) for path in paths}
    assert many == few
    assert client.get("/queues/").content.decode().count('data-testid="triage-row"') == 33
    assert client.get("/squads/").content.decode().count('data-testid="squad-row"') == 6


def test_without_htmx_an_action_returns_to_the_same_list_with_its_message(
    as_member: Callable[[Member], TenantClient],
) -> None:
    squad = make_squad()
    member = MemberFactory.create()
    join(squad, member)
    work = item(squad, "Plain form")
    client = as_member(member)
    response = client.post(
        f"/queues/act/?scope={squad.pk}&sort=sla&next=https://evil.example/",
        {"action": "claim", "item": [work.pk], "next": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/queues/?scope={squad.pk}&sort=sla"
    page = client.get(response["Location"]).content.decode()
    assert "“Plain form” claimed." in page
