"""Who may do what in squads: one permission level per caller, checked in one place.

Every squads API view uses `SquadsPermission` (reads need read_only, writes the view's
`write_level` or a per-action level) and services that act on a queue's items call
`ensure_can_work`, so no view has to remember a check.

- A user's level is their member profile's; tenant admins (staff) are always admins; a user
  without a profile reads only.
- A read-write API key acts as a manager (integrations create plays and assign work), a read
  key reads only; a key is not a person, so it cannot claim or complete items itself.
- Members work the items of their own squads' queues (claim, assign, snooze, complete, bulk);
  managers and admins work every queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

from apps.squads.models import PERMISSION_RANK, Member, PermissionLevel, SquadMembership
from fullfield.errors import DomainError
from fullfield.users.models import User

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


class Forbidden(DomainError):
    status_code = 403
    code = "permission_denied"


@dataclass(frozen=True)
class Actor:
    """The caller as squads sees it."""

    level: str
    user: User | None = None
    member: Member | None = None

    def at_least(self, level: str) -> bool:
        return PERMISSION_RANK[self.level] >= PERMISSION_RANK[level]

    @property
    def user_id(self) -> int | None:
        return self.user.pk if self.user is not None else None


def actor_for_user(user: User) -> Actor:
    member = Member.objects.filter(user=user).first()
    if user.is_staff:
        return Actor(level=PermissionLevel.ADMIN, user=user, member=member)
    if member is None:
        return Actor(level=PermissionLevel.READ_ONLY, user=user)
    return Actor(level=member.permission_level, user=user, member=member)


def actor_for_request(request: Request) -> Actor:
    cached: Actor | None = getattr(request, "_squads_actor", None)
    if cached is not None:
        return cached
    user: Any = request.user
    if isinstance(user, User):
        actor = actor_for_user(user)
    else:
        scope = getattr(request.auth, "scope", None)
        level = PermissionLevel.MANAGER if scope == "read_write" else PermissionLevel.READ_ONLY
        actor = Actor(level=level)
    request._squads_actor = actor  # type: ignore[attr-defined]
    return actor


def required_level(request: Request, view: APIView) -> str:
    action = getattr(view, "action", None)
    levels: dict[str, str] = getattr(view, "action_levels", {})
    if action in levels:
        return levels[action]
    if request.method in SAFE_METHODS:
        return PermissionLevel.READ_ONLY
    return str(getattr(view, "write_level", PermissionLevel.MANAGER))


class SquadsPermission(BasePermission):
    """The caller's permission level must reach the operation's."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        needed = required_level(request, view)
        actor = actor_for_request(request)
        if not actor.at_least(needed):
            self.message = (
                f"This needs the {needed} permission level; you have {actor.level}."
                if actor.user is not None
                else "This needs a read-write API key."
            )
            return False
        return True


def ensure_can_work(actor: Actor, *, squad_ids: set[int]) -> None:
    """Members work only their own squads' queues; managers and admins any."""
    if actor.at_least(PermissionLevel.MANAGER):
        return
    if actor.member is None or not actor.at_least(PermissionLevel.MEMBER):
        raise Forbidden("Only squad members work items.")
    own = set(
        SquadMembership.objects.filter(member=actor.member, squad_id__in=squad_ids).values_list(
            "squad_id", flat=True
        )
    )
    if missing := squad_ids - own:
        raise Forbidden(
            "You may only work items of your own squads' queues "
            f"(not a member of squad {', '.join(map(str, sorted(missing)))})."
        )


def ensure_person(actor: Actor) -> Member:
    """Claiming and completing are done by a person with a member profile."""
    if actor.member is None:
        raise Forbidden("Only a squad member (a person with a member profile) can do this.")
    return actor.member
