"""Members, squads, queues: the API, permission levels, size guidance, skill gaps, replicate."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import IntegrityError, connection

from apps.accounts.models import Account
from apps.accounts.tests.factories import AccountFactory, SubscriptionFactory
from apps.squads.models import Member, Play, Squad
from apps.squads.tests.factories import MemberFactory, PlayFactory, join, make_squad
from tests.fixtures import TenantClient, World

pytestmark = pytest.mark.usefixtures("tenant_a")


def error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body: dict[str, Any] = response.json()["error"]
    return body


@pytest.fixture
def bob_member(world: World) -> Member:
    return MemberFactory.create(user=world.bob.user, role="sales", permission_level="member")


# --- members ---------------------------------------------------------------------------------


def test_alice_gives_bob_a_member_profile_and_reads_it_back(
    alice_client: TenantClient, world: World
) -> None:
    response = alice_client.post(
        "/api/v1/squad-members/",
        {"user": world.bob.user.pk, "role": "success", "permission_level": "member", "capacity": 5},
    )
    assert response.status_code == 201, response.content
    member = alice_client.get(f"/api/v1/squad-members/{response.json()['id']}/").json()
    assert member["email"] == "bob@alpha.test"
    assert member["role"] == "success"
    assert member["capacity"] == 5
    assert member["is_available"] is True
    assert member["open_items"] == 0


def test_a_user_gets_one_member_profile_only(
    alice_client: TenantClient, bob_member: Member
) -> None:
    response = alice_client.post(
        "/api/v1/squad-members/", {"user": bob_member.user_id, "role": "success"}
    )
    assert error(response, 409)["fields"] == {"user": ["Already a member."]}


def test_a_member_cannot_manage_member_profiles(
    bob_client: TenantClient, bob_member: Member
) -> None:
    response = bob_client.patch(
        f"/api/v1/squad-members/{bob_member.pk}/", {"permission_level": "admin"}
    )
    assert error(response, 403)["message"] == (
        "This needs the admin permission level; you have member."
    )
    bob_member.refresh_from_db()
    assert bob_member.permission_level == "member"


def test_bob_sees_his_own_profile(bob_client: TenantClient, bob_member: Member) -> None:
    assert bob_client.get("/api/v1/squad-members/me/").json()["role"] == "sales"


# --- squads ----------------------------------------------------------------------------------


def test_alice_creates_a_squad_which_gets_its_queue(alice_client: TenantClient) -> None:
    response = alice_client.post(
        "/api/v1/squads/",
        {
            "name": "Enterprise growth",
            "mission": "Keep and grow the top accounts",
            "value_area": "account_based",
            "account_filter": {"segment": ["enterprise"]},
        },
    )
    assert response.status_code == 201, response.content
    squad = response.json()
    queue = alice_client.get(f"/api/v1/queues/{squad['queue']}/").json()
    assert queue["squad"] == squad["id"]
    assert queue["assignment_policy"] == "manual"


def test_a_squad_of_two_gets_a_size_warning_and_names_its_skill_gaps(
    alice_client: TenantClient,
) -> None:
    squad = make_squad("Small", value_area="product_service")
    join(squad, MemberFactory.create(role="success"), MemberFactory.create(role="analyst"))
    body = alice_client.get(f"/api/v1/squads/{squad.pk}/").json()
    assert body["size"] == 2
    assert body["size_warning"] == "2 members: a squad works best with 6 to 10."
    assert body["skill_gaps"] == ["service", "product"]


def test_a_full_squad_of_every_needed_role_has_no_warning_and_no_gap(
    alice_client: TenantClient,
) -> None:
    squad = make_squad("Full", value_area="product_service")
    roles = ["success", "service", "product", "analyst", "success", "sales"]
    join(squad, *[MemberFactory.create(role=role) for role in roles])
    body = alice_client.get(f"/api/v1/squads/{squad.pk}/").json()
    assert (body["size"], body["size_warning"], body["skill_gaps"]) == (6, None, [])


def test_eleven_members_are_too_many(alice_client: TenantClient) -> None:
    squad = make_squad("Crowd")
    join(squad, *[MemberFactory.create() for _ in range(11)])
    warning = alice_client.get(f"/api/v1/squads/{squad.pk}/").json()["size_warning"]
    assert warning.startswith("11 members: above 10")


def test_a_member_reads_squads_but_cannot_create_one(
    bob_client: TenantClient, bob_member: Member
) -> None:
    assert bob_client.get("/api/v1/squads/").status_code == 200
    response = bob_client.post("/api/v1/squads/", {"name": "Mine", "value_area": "geography"})
    assert error(response, 403)["code"] == "permission_denied"
    assert not Squad.objects.filter(name="Mine").exists()


def test_a_user_without_a_profile_only_reads(bob_client: TenantClient) -> None:
    squad = make_squad()
    assert bob_client.get(f"/api/v1/squads/{squad.pk}/").status_code == 200
    response = bob_client.patch(f"/api/v1/squads/{squad.pk}/", {"mission": "Mine now"})
    assert "read_only" in error(response, 403)["message"]


def test_a_read_api_key_cannot_write_and_a_read_write_key_manages(
    world: World, make_api_key: Any
) -> None:
    reader = TenantClient(world.tenant_a).use_api_key(make_api_key(world.tenant_a, scope="read"))
    writer = TenantClient(world.tenant_a).use_api_key(make_api_key(world.tenant_a))
    body = {"name": "Keyed", "value_area": "geography"}
    assert reader.post("/api/v1/squads/", body).status_code == 403
    assert writer.post("/api/v1/squads/", body).status_code == 201


def test_unknown_fields_and_bad_filters_are_refused_by_name(alice_client: TenantClient) -> None:
    unknown = alice_client.post(
        "/api/v1/squads/", {"name": "X", "value_area": "geography", "owner": 1}
    )
    assert error(unknown, 400)["fields"] == {"owner": ["Unknown field."]}
    bad_filter = alice_client.post(
        "/api/v1/squads/", {"name": "X", "value_area": "geography", "account_filter": {"a": 1}}
    )
    assert list(error(bad_filter, 400)["fields"]) == ["account_filter"]
    assert not Squad.objects.filter(name="X").exists()


def test_members_join_a_squad_with_their_role_and_leave_it(alice_client: TenantClient) -> None:
    squad = make_squad()
    member = MemberFactory.create(role="product")
    added = alice_client.post(f"/api/v1/squads/{squad.pk}/members/", {"member": member.pk})
    assert added.status_code == 200, added.content
    assert [(m["member"], m["role"]) for m in added.json()["members"]] == [(member.pk, "product")]
    removed = alice_client.delete(f"/api/v1/squads/{squad.pk}/members/{member.pk}/")
    assert removed.status_code == 204
    assert alice_client.get(f"/api/v1/squads/{squad.pk}/").json()["members"] == []


def test_covered_accounts_are_the_assigned_ones_and_those_the_filter_matches(
    alice_client: TenantClient,
) -> None:
    squad = make_squad()
    squad.account_filter = {"segment": ["enterprise"]}
    squad.save()
    assigned = AccountFactory.create(segment="smb")
    matched = AccountFactory.create(segment="enterprise")
    AccountFactory.create(segment="smb")
    response = alice_client.post(
        f"/api/v1/squads/{squad.pk}/accounts/", {"account_ids": [assigned.pk]}
    )
    assert response.json() == {"count": 1}
    listed = alice_client.get(f"/api/v1/squads/{squad.pk}/accounts/").json()["results"]
    assert {row["id"] for row in listed} == {assigned.pk, matched.pk}


def test_assigning_an_unknown_account_names_it_and_changes_nothing(
    alice_client: TenantClient,
) -> None:
    squad = make_squad()
    account = AccountFactory.create()
    response = alice_client.post(
        f"/api/v1/squads/{squad.pk}/accounts/", {"account_ids": [account.pk, 999999]}
    )
    assert error(response, 400)["fields"] == {"account_ids": ["No account with id 999999."]}
    account.refresh_from_db()
    assert account.squad_id is None


def test_account_squad_is_a_real_foreign_key_that_refuses_a_missing_squad() -> None:
    account = AccountFactory.create()
    Account.objects.filter(pk=account.pk).update(squad_id=987654)
    with pytest.raises(IntegrityError, match="foreign key"), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_deleting_a_squad_leaves_its_accounts_without_a_squad(alice_client: TenantClient) -> None:
    squad = make_squad()
    account = AccountFactory.create(squad_id=squad.pk)
    assert alice_client.delete(f"/api/v1/squads/{squad.pk}/").status_code == 204
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    account.refresh_from_db()
    assert account.squad_id is None


def test_revenue_by_squad_names_the_squad_of_the_accounts_it_was_given(
    alice_client: TenantClient,
) -> None:
    squad = make_squad("Named")
    account = AccountFactory.create()
    SubscriptionFactory.create(account=account, period_start=dt.date(2026, 1, 1))
    alice_client.post(f"/api/v1/squads/{squad.pk}/accounts/", {"account_ids": [account.pk]})
    report = alice_client.get("/api/v1/metrics/revenue/?month=2026-02&group_by=squad").json()
    assert [(group["key"], group["name"]) for group in report["groups"]] == [(squad.pk, "Named")]


# --- replicate -------------------------------------------------------------------------------


def test_replicating_a_squad_copies_mission_plays_policy_and_cadence_but_no_people(
    alice_client: TenantClient,
) -> None:
    source = make_squad("Original", assignment_policy="least_loaded", sla_hours=24)
    source.cycle_length_days = 10
    source.save()
    join(source, MemberFactory.create(), MemberFactory.create())
    AccountFactory.create(squad_id=source.pk)
    PlayFactory.create(squad=source, name="Welcome", status="active")
    PlayFactory.create(squad=source, name="Old", status="disabled")
    response = alice_client.post(f"/api/v1/squads/{source.pk}/replicate/", {"name": "Copy"})
    assert response.status_code == 201, response.content
    copy = response.json()
    assert copy["mission"] == "Original mission"
    assert copy["replicated_from"] == source.pk
    assert copy["members"] == []
    assert alice_client.get(f"/api/v1/squads/{copy['id']}/accounts/").json()["results"] == []
    queue = alice_client.get(f"/api/v1/queues/{copy['queue']}/").json()
    assert (queue["assignment_policy"], queue["sla_hours"]) == ("least_loaded", 24)
    assert Squad.objects.get(pk=copy["id"]).cycle_length_days == 10
    plays = Play.objects.filter(squad_id=copy["id"])
    assert [(play.name, play.status) for play in plays] == [("Welcome", "draft")]


def test_replicating_under_a_taken_name_is_a_conflict(alice_client: TenantClient) -> None:
    source = make_squad("One")
    make_squad("Two")
    response = alice_client.post(f"/api/v1/squads/{source.pk}/replicate/", {"name": "Two"})
    assert error(response, 409)["fields"] == {"name": ["Already used."]}


# --- queues ----------------------------------------------------------------------------------


def test_a_by_role_policy_needs_a_role(alice_client: TenantClient) -> None:
    squad = make_squad()
    response = alice_client.patch(
        f"/api/v1/queues/{squad.queue.pk}/", {"assignment_policy": "by_role"}
    )
    assert error(response, 400)["fields"] == {"policy_role": ["by_role needs a role."]}


# --- tenant isolation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/squads/{squad}/",
        "/api/v1/squads/{squad}/accounts/",
        "/api/v1/squads/{squad}/scorecard/",
        "/api/v1/queues/{queue}/",
        "/api/v1/squad-members/{member}/",
        "/api/v1/plays/{play}/",
        "/api/v1/plays/{play}/preview/",
        "/api/v1/work-items/{item}/",
        "/api/v1/work-items/{item}/history/",
    ],
)
def test_charlie_gets_404_for_tenant_a_squads_objects(
    charlie_client: TenantClient, url: str
) -> None:
    from apps.squads.tests.factories import WorkItemFactory

    squad = make_squad("Alpha squad")
    play = PlayFactory.create(squad=squad)
    item = WorkItemFactory.create(queue=squad.queue)
    member = MemberFactory.create()
    path = url.format(
        squad=squad.pk, queue=squad.queue.pk, member=member.pk, play=play.pk, item=item.pk
    )
    assert charlie_client.get(path).status_code == 404


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/work-items/{item}/claim/", {}),
        ("/api/v1/work-items/{item}/dismiss/", {"reason": "x"}),
        ("/api/v1/plays/{play}/disable/", {"reason": "x"}),
        ("/api/v1/squads/{squad}/replicate/", {"name": "Stolen"}),
    ],
)
def test_charlie_cannot_act_on_tenant_a_squads_objects(
    charlie_client: TenantClient, url: str, body: dict[str, Any]
) -> None:
    from apps.squads.tests.factories import WorkItemFactory

    squad = make_squad("Alpha squad")
    play = PlayFactory.create(squad=squad)
    item = WorkItemFactory.create(queue=squad.queue)
    response = charlie_client.post(url.format(squad=squad.pk, play=play.pk, item=item.pk), body)
    assert response.status_code == 404
    item.refresh_from_db()
    assert item.status == "open"


def test_hostile_values_get_a_clear_400(alice_client: TenantClient) -> None:
    squad = make_squad()
    null_filter = alice_client.post(
        "/api/v1/squads/",
        {"name": "N", "value_area": "geography", "account_filter": {"segment": ["a\x00b"]}},
    )
    assert list(error(null_filter, 400)["fields"]) == ["account_filter"]
    no_capacity = alice_client.post(
        "/api/v1/squad-members/",
        {"user": MemberFactory.create().user_id, "role": "sales", "capacity": 0},
    )
    assert "capacity" in error(no_capacity, 400)["fields"]
    long_sla = alice_client.patch(f"/api/v1/queues/{squad.queue.pk}/", {"sla_hours": 2**31 - 1})
    assert list(error(long_sla, 400)["fields"]) == ["sla_hours"]
    ancient = alice_client.get(f"/api/v1/squads/{squad.pk}/scorecard/?start=0001-01-01")
    assert list(error(ancient, 400)["fields"]) == ["start"]
