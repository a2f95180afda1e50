"""Permission levels per operation: each level may do what the one below may, and more."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apps.squads.models import Member, Squad
from apps.squads.tests.factories import (
    MemberFactory,
    PlayFactory,
    WorkItemFactory,
    join,
    make_squad,
)
from tests.fixtures import TenantClient, World

pytestmark = pytest.mark.usefixtures("tenant_a")

LEVELS = ["read_only", "member", "manager", "admin"]

# operation -> (the lowest level allowed, method, url, body)
Operation = tuple[str, str, Callable[[dict[str, Any]], str], dict[str, Any]]
OPERATIONS: dict[str, Operation] = {
    "read a squad": ("read_only", "get", lambda o: f"/api/v1/squads/{o['squad']}/", {}),
    "read scorecards": ("read_only", "get", lambda o: "/api/v1/scorecards/", {}),
    "preview a play": ("read_only", "get", lambda o: f"/api/v1/plays/{o['play']}/preview/", {}),
    "claim an item": ("member", "post", lambda o: f"/api/v1/work-items/{o['item']}/claim/", {}),
    "comment on an item": (
        "member",
        "post",
        lambda o: f"/api/v1/work-items/{o['item']}/comment/",
        {"body": "Hello"},
    ),
    "dry-run a play": (
        "member",
        "post",
        lambda o: f"/api/v1/plays/{o['play']}/dry-run/",
        {"account": 0},
    ),
    "create a squad": (
        "manager",
        "post",
        lambda o: "/api/v1/squads/",
        {"name": "New", "value_area": "geography"},
    ),
    "disable a play": (
        "manager",
        "post",
        lambda o: f"/api/v1/plays/{o['play']}/disable/",
        {"reason": "x"},
    ),
    "set a queue policy": (
        "manager",
        "patch",
        lambda o: f"/api/v1/queues/{o['queue']}/",
        {"assignment_policy": "round_robin"},
    ),
    "delete a squad": ("admin", "delete", lambda o: f"/api/v1/squads/{o['squad']}/", {}),
    "change a member profile": (
        "admin",
        "patch",
        lambda o: f"/api/v1/squad-members/{o['member']}/",
        {"capacity": 3},
    ),
}


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_each_operation_needs_its_permission_level(
    bob_client: TenantClient, world: World, level: str, operation: str
) -> None:
    needed, method, url, body = OPERATIONS[operation]
    squad: Squad = make_squad("Guarded")
    bob: Member = MemberFactory.create(user=world.bob.user, permission_level=level)
    join(squad, bob)
    play = PlayFactory.create(squad=squad)
    item = WorkItemFactory.create(queue=squad.queue)
    if "account" in body:
        body = {**body, "account": item.account_id}
    objects = {
        "squad": squad.pk,
        "queue": squad.queue.pk,
        "play": play.pk,
        "item": item.pk,
        "member": bob.pk,
    }
    response = getattr(bob_client, method)(url(objects), body)
    allowed = LEVELS.index(level) >= LEVELS.index(needed)
    if allowed:
        assert response.status_code < 400, (operation, level, response.content)
    else:
        assert response.status_code == 403, (operation, level, response.content)
        assert response.json()["error"]["message"] == (
            f"This needs the {needed} permission level; you have {level}."
        )
