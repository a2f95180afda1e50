"""Assignment policies of a queue: who gets a new item (None leaves it in the pool).

Small classes in the manner of chatwoot's auto_assignment: each picks among the squad's
available members who are below their capacity. The caller holds the queue's row lock, so
overlapping runs (round-robin's cursor) never pick from a stale state.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, Q, QuerySet

from apps.squads.models import OPEN_STATUSES, AssignmentPolicy, Member, PermissionLevel, Queue


def eligible_members(queue: Queue) -> QuerySet[Any]:
    """Available members of the queue's squad who work items (not read-only) and are below
    their capacity, with their open load."""
    members: QuerySet[Any] = (
        Member.objects.filter(memberships__squad_id=queue.squad_id, is_available=True)
        .exclude(permission_level=PermissionLevel.READ_ONLY)
        .annotate(load=Count("items", filter=Q(items__status__in=OPEN_STATUSES)))
    )
    return members.filter(load__lt=F("capacity"))


class Policy:
    def pick(self, queue: Queue) -> Member | None:
        raise NotImplementedError


class Manual(Policy):
    def pick(self, queue: Queue) -> Member | None:
        return None


class LeastLoaded(Policy):
    def pick(self, queue: Queue) -> Member | None:
        member: Member | None = eligible_members(queue).order_by("load", "id").first()
        return member


class ByRole(Policy):
    def pick(self, queue: Queue) -> Member | None:
        if not queue.policy_role:
            return LeastLoaded().pick(queue)
        members = eligible_members(queue).filter(
            memberships__squad_id=queue.squad_id, memberships__role=queue.policy_role
        )
        member: Member | None = members.order_by("load", "id").first()
        return member


class RoundRobin(Policy):
    def pick(self, queue: Queue) -> Member | None:
        members = eligible_members(queue).order_by("id")
        last = queue.round_robin_last_member_id
        member: Member | None = (
            members.filter(id__gt=last).first() if last else None
        ) or members.first()
        if member is not None:
            queue.round_robin_last_member = member
            Queue.objects.filter(pk=queue.pk).update(round_robin_last_member=member)
        return member


POLICIES: dict[str, Policy] = {
    AssignmentPolicy.MANUAL: Manual(),
    AssignmentPolicy.LEAST_LOADED: LeastLoaded(),
    AssignmentPolicy.BY_ROLE: ByRole(),
    AssignmentPolicy.ROUND_ROBIN: RoundRobin(),
}


def assignee_for_new_item(queue: Queue) -> Member | None:
    return POLICIES[queue.assignment_policy].pick(queue)
