"""Work items through the API: claim, release, assign, snooze, complete, dismiss, comment,
bulk, my items; who may do each; assignment policies."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from apps.accounts.models import Touchpoint
from apps.accounts.tests.factories import AccountFactory, SubscriptionFactory
from apps.squads.models import Member, Squad, WorkItem
from apps.squads.services import work_item_create, work_items_wake
from apps.squads.tests.factories import MemberFactory, WorkItemFactory, join, make_squad
from tests.fixtures import TenantClient, World

pytestmark = pytest.mark.usefixtures("tenant_a")

ITEMS = "/api/v1/work-items/"


def error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body: dict[str, Any] = response.json()["error"]
    return body


@pytest.fixture
def squad() -> Squad:
    return make_squad("Retention")


@pytest.fixture
def bob(world: World, squad: Squad) -> Member:
    member = MemberFactory.create(user=world.bob.user, role="success", capacity=3)
    join(squad, member)
    return member


@pytest.fixture
def item(squad: Squad) -> WorkItem:
    return WorkItemFactory.create(queue=squad.queue)


def test_bob_claims_an_open_item_of_his_squad(
    bob_client: TenantClient, bob: Member, item: WorkItem
) -> None:
    response = bob_client.post(f"{ITEMS}{item.pk}/claim/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["assignee"], body["assignee_email"]) == (
        "claimed",
        bob.pk,
        "bob@alpha.test",
    )


def test_claiming_an_item_someone_holds_is_a_409_naming_the_holder(
    bob_client: TenantClient, bob: Member, squad: Squad, item: WorkItem
) -> None:
    carol = MemberFactory.create(user__email="carol@alpha.test")
    join(squad, carol)
    WorkItem.objects.filter(pk=item.pk).update(status="claimed", assignee=carol)
    body = error(bob_client.post(f"{ITEMS}{item.pk}/claim/"), 409)
    assert body["message"] == (
        f"Work item {item.pk} is already claimed by carol@alpha.test; only open items can be "
        "claimed."
    )


def test_a_member_at_capacity_cannot_claim_more(
    bob_client: TenantClient, bob: Member, squad: Squad
) -> None:
    items = [WorkItemFactory.create(queue=squad.queue) for _ in range(4)]
    for item in items[:3]:
        assert bob_client.post(f"{ITEMS}{item.pk}/claim/").status_code == 200
    body = error(bob_client.post(f"{ITEMS}{items[3].pk}/claim/"), 409)
    assert body["fields"] == {"assignee": ["At capacity."]}


def test_a_member_cannot_work_another_squads_items(bob_client: TenantClient, bob: Member) -> None:
    other = WorkItemFactory.create(queue=make_squad("Elsewhere").queue)
    body = error(bob_client.post(f"{ITEMS}{other.pk}/claim/"), 403)
    assert "own squads" in body["message"]
    other.refresh_from_db()
    assert other.status == "open"


def test_a_read_only_member_cannot_claim(
    bob_client: TenantClient, bob: Member, item: WorkItem
) -> None:
    Member.objects.filter(pk=bob.pk).update(permission_level="read_only")
    assert error(bob_client.post(f"{ITEMS}{item.pk}/claim/"), 403)["code"] == "permission_denied"
    assert bob_client.get(f"{ITEMS}{item.pk}/").status_code == 200


def test_an_api_key_cannot_claim_because_it_is_not_a_person(
    api_a: TenantClient, item: WorkItem
) -> None:
    assert "person" in error(api_a.post(f"{ITEMS}{item.pk}/claim/"), 403)["message"]


def test_a_manager_works_any_queue(alice_client: TenantClient, world: World) -> None:
    MemberFactory.create(user=world.alice.user, permission_level="manager")
    other = WorkItemFactory.create(queue=make_squad("Elsewhere").queue)
    assert alice_client.post(f"{ITEMS}{other.pk}/claim/").status_code == 200


def test_release_puts_the_item_back_in_the_pool(
    bob_client: TenantClient, bob: Member, item: WorkItem
) -> None:
    bob_client.post(f"{ITEMS}{item.pk}/claim/")
    body = bob_client.post(f"{ITEMS}{item.pk}/release/").json()
    assert (body["status"], body["assignee"]) == ("open", None)


def test_bob_assigns_an_item_to_a_squad_mate_but_not_to_an_outsider(
    bob_client: TenantClient, bob: Member, squad: Squad, item: WorkItem
) -> None:
    mate = MemberFactory.create()
    join(squad, mate)
    outsider = MemberFactory.create()
    refused = bob_client.post(f"{ITEMS}{item.pk}/assign/", {"assignee": outsider.pk})
    assert error(refused, 400)["fields"] == {"assignee": ["Not a member of the item's squad."]}
    body = bob_client.post(f"{ITEMS}{item.pk}/assign/", {"assignee": mate.pk}).json()
    assert (body["status"], body["assignee"]) == ("claimed", mate.pk)


def test_a_snoozed_item_wakes_up_by_itself_back_to_its_holder(
    bob_client: TenantClient, bob: Member, item: WorkItem, squad: Squad
) -> None:
    pooled = WorkItemFactory.create(queue=squad.queue)
    bob_client.post(f"{ITEMS}{item.pk}/claim/")
    until = timezone.now() + dt.timedelta(hours=2)
    for snoozed in (item, pooled):
        response = bob_client.post(f"{ITEMS}{snoozed.pk}/snooze/", {"until": until.isoformat()})
        assert response.json()["status"] == "snoozed"
    assert work_items_wake(now=timezone.now()) == 0
    assert work_items_wake(now=until + dt.timedelta(seconds=1)) == 2
    item.refresh_from_db()
    pooled.refresh_from_db()
    assert (item.status, item.assignee_id) == ("claimed", bob.pk)
    assert (pooled.status, pooled.assignee_id) == ("open", None)
    kinds = [e["kind"] for e in bob_client.get(f"{ITEMS}{item.pk}/history/").json()["results"]]
    assert kinds[-1] == "woke"


def test_snoozing_into_the_past_is_refused(
    bob_client: TenantClient, bob: Member, item: WorkItem
) -> None:
    response = bob_client.post(f"{ITEMS}{item.pk}/snooze/", {"until": "2020-01-01T00:00:00Z"})
    assert error(response, 400)["fields"] == {"until": ["In the past."]}


def test_completing_an_item_writes_a_touchpoint_with_the_effort_on_the_timeline(
    bob_client: TenantClient, bob: Member, item: WorkItem
) -> None:
    bob_client.post(f"{ITEMS}{item.pk}/claim/")
    response = bob_client.post(
        f"{ITEMS}{item.pk}/complete/", {"outcome": "Renewal agreed", "effort_minutes": 45}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["effort_minutes"]) == ("done", 45)
    touchpoint = Touchpoint.objects.get(pk=body["touchpoint_id"])
    assert touchpoint.account_id == item.account_id
    assert (touchpoint.kind, touchpoint.effort_minutes) == ("work_item", 45)
    assert touchpoint.author_id == bob.user_id
    assert "Renewal agreed" in touchpoint.notes
    timeline = bob_client.get(f"/api/v1/accounts/{item.account_id}/timeline/").json()
    assert any(entry["kind"] == "touchpoint" for entry in timeline["results"])


def test_an_item_is_completed_once(bob_client: TenantClient, bob: Member, item: WorkItem) -> None:
    body = {"outcome": "Done", "effort_minutes": 5}
    assert bob_client.post(f"{ITEMS}{item.pk}/complete/", body).status_code == 200
    assert error(bob_client.post(f"{ITEMS}{item.pk}/complete/", body), 409)["fields"] == {
        "status": ["done"]
    }
    assert Touchpoint.objects.filter(account_id=item.account_id).count() == 1


def test_dismiss_needs_a_reason_and_keeps_it(
    bob_client: TenantClient, bob: Member, item: WorkItem
) -> None:
    assert error(bob_client.post(f"{ITEMS}{item.pk}/dismiss/", {}), 400)["fields"] == {
        "reason": ["This field is required."]
    }
    body = bob_client.post(f"{ITEMS}{item.pk}/dismiss/", {"reason": "Duplicate"}).json()
    assert (body["status"], body["dismissed_reason"]) == ("dismissed", "Duplicate")


def test_comments_and_actions_make_the_items_history(
    bob_client: TenantClient, bob: Member, item: WorkItem
) -> None:
    bob_client.post(f"{ITEMS}{item.pk}/claim/")
    comment = bob_client.post(f"{ITEMS}{item.pk}/comment/", {"body": "Called, no answer"})
    assert comment.status_code == 201
    history = bob_client.get(f"{ITEMS}{item.pk}/history/").json()["results"]
    assert [(e["kind"], e["actor_email"], e["body"]) for e in history] == [
        ("claimed", "bob@alpha.test", ""),
        ("commented", "bob@alpha.test", "Called, no answer"),
    ]


def test_the_checklist_is_ticked_entry_by_entry(
    bob_client: TenantClient, bob: Member, squad: Squad
) -> None:
    item = WorkItemFactory.create(
        queue=squad.queue,
        checklist=[{"text": "Call", "done": False}, {"text": "Mail", "done": False}],
    )
    body = bob_client.post(f"{ITEMS}{item.pk}/checklist/", {"done": [True, False]}).json()
    assert body["checklist"] == [{"text": "Call", "done": True}, {"text": "Mail", "done": False}]
    wrong = bob_client.post(f"{ITEMS}{item.pk}/checklist/", {"done": [True]})
    assert error(wrong, 400)["fields"] == {"done": ["Give 2 values."]}


def test_a_member_bulk_snoozes_and_completes_their_own_queues_items(
    bob_client: TenantClient, bob: Member, squad: Squad
) -> None:
    mine = [WorkItemFactory.create(queue=squad.queue) for _ in range(3)]
    theirs = WorkItemFactory.create(queue=make_squad("Elsewhere").queue)
    until = (timezone.now() + dt.timedelta(days=1)).isoformat()
    ids = [item.pk for item in mine] + [theirs.pk, 99_999_999]
    response = bob_client.post(
        f"{ITEMS}bulk/", {"action": "snooze", "item_ids": ids, "until": until}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["succeeded"] == [item.pk for item in mine]
    assert set(body["failed"]) == {str(theirs.pk), "99999999"}
    assert "own squads" in body["failed"][str(theirs.pk)]
    completed = bob_client.post(
        f"{ITEMS}bulk/",
        {"action": "complete", "item_ids": [mine[0].pk], "outcome": "ok", "effort_minutes": 10},
    ).json()
    assert completed["succeeded"] == [mine[0].pk]
    theirs.refresh_from_db()
    assert theirs.status == "open"


def test_bulk_names_the_field_an_action_needs(bob_client: TenantClient, bob: Member) -> None:
    response = bob_client.post(f"{ITEMS}bulk/", {"action": "assign", "item_ids": [1]})
    assert error(response, 400)["fields"] == {"assignee": ["Required by assign."]}


def test_my_items_are_the_open_ones_i_hold_across_squads(
    bob_client: TenantClient, bob: Member, squad: Squad
) -> None:
    second = make_squad("Second")
    join(second, bob)
    first_item = WorkItemFactory.create(queue=squad.queue)
    second_item = WorkItemFactory.create(queue=second.queue)
    done = WorkItemFactory.create(queue=squad.queue)
    WorkItemFactory.create(queue=squad.queue)
    for item in (first_item, second_item, done):
        bob_client.post(f"{ITEMS}{item.pk}/claim/")
    bob_client.post(f"{ITEMS}{done.pk}/complete/", {"outcome": "ok", "effort_minutes": 1})
    mine = bob_client.get(f"{ITEMS}mine/").json()["results"]
    assert {row["id"] for row in mine} == {first_item.pk, second_item.pk}


def test_items_list_by_priority_filtered_by_squad_and_status(
    bob_client: TenantClient, bob: Member, squad: Squad
) -> None:
    low = WorkItemFactory.create(queue=squad.queue, priority=Decimal("10"))
    high = WorkItemFactory.create(queue=squad.queue, priority=Decimal("900"))
    WorkItemFactory.create(queue=make_squad("Elsewhere").queue, priority=Decimal("5000"))
    rows = bob_client.get(f"{ITEMS}?squad={squad.pk}&status=open&ordering=-priority").json()
    assert [row["id"] for row in rows["results"]] == [high.pk, low.pk]


def test_a_new_items_priority_is_the_expected_loss_of_the_account(
    bob_client: TenantClient, bob: Member, squad: Squad
) -> None:
    account = AccountFactory.create()
    SubscriptionFactory.create(account=account, mrr=Decimal("1000"))
    response = bob_client.post(
        ITEMS, {"queue": squad.queue.pk, "account": account.pk, "title": "Check in"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    # Unscored: ARR 12,000 x the fallback churn probability 0.10.
    assert (body["priority"], body["priority_basis"]) == ("1200.00", "fallback")


# --- assignment policies ---------------------------------------------------------------------


def test_least_loaded_gives_new_items_to_the_available_member_with_fewest(squad: Squad) -> None:
    busy, idle, away = (MemberFactory.create() for _ in range(3))
    Member.objects.filter(pk=away.pk).update(is_available=False)
    join(squad, busy, idle, away)
    squad.queue.assignment_policy = "least_loaded"
    squad.queue.save()
    WorkItemFactory.create(queue=squad.queue, status="claimed", assignee=busy)
    account = AccountFactory.create()
    first = work_item_create(actor=None, queue=squad.queue, account=account, title="A")
    second = work_item_create(actor=None, queue=squad.queue, account=account, title="B")
    third = work_item_create(actor=None, queue=squad.queue, account=account, title="C")
    assert [first.assignee_id, second.assignee_id, third.assignee_id] == [idle.pk, busy.pk, idle.pk]


def test_round_robin_takes_turns_and_skips_members_at_capacity(squad: Squad) -> None:
    one, two, full = (MemberFactory.create() for _ in range(3))
    Member.objects.filter(pk=full.pk).update(capacity=1)
    join(squad, one, two, full)
    WorkItemFactory.create(queue=squad.queue, status="claimed", assignee=full)
    squad.queue.assignment_policy = "round_robin"
    squad.queue.save()
    account = AccountFactory.create()
    assignees = [
        work_item_create(actor=None, queue=squad.queue, account=account, title=str(n)).assignee_id
        for n in range(4)
    ]
    assert assignees == [one.pk, two.pk, one.pk, two.pk]


def test_by_role_gives_items_to_the_role_named_on_the_queue(squad: Squad) -> None:
    seller = MemberFactory.create(role="sales")
    carer = MemberFactory.create(role="success")
    join(squad, seller, carer)
    squad.queue.assignment_policy = "by_role"
    squad.queue.policy_role = "success"
    squad.queue.save()
    item = work_item_create(
        actor=None, queue=squad.queue, account=AccountFactory.create(), title="X"
    )
    assert item.assignee_id == carer.pk


def test_manual_leaves_new_items_in_the_pool(squad: Squad) -> None:
    join(squad, MemberFactory.create())
    item = work_item_create(
        actor=None, queue=squad.queue, account=AccountFactory.create(), title="X"
    )
    assert (item.status, item.assignee_id) == ("open", None)


def test_policies_give_no_items_to_read_only_members(squad: Squad) -> None:
    watcher = MemberFactory.create(permission_level="read_only")
    join(squad, watcher)
    squad.queue.assignment_policy = "least_loaded"
    squad.queue.save()
    item = work_item_create(
        actor=None, queue=squad.queue, account=AccountFactory.create(), title="X"
    )
    assert (item.status, item.assignee_id) == ("open", None)
