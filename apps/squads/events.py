"""Domain events published by squads (see fullfield.events); outbound webhooks hear them."""

from __future__ import annotations

import dataclasses

from fullfield.events import DomainEvent


@dataclasses.dataclass(frozen=True)
class WorkItemCreated(DomainEvent):
    """A play (or a person) put a new work item in a squad's queue."""

    name = "work_item.created"
    work_item_id: int
    account_id: int
    squad_id: int
    play_id: int | None
    title: str
    priority: str


@dataclasses.dataclass(frozen=True)
class WorkItemCompleted(DomainEvent):
    """A squad member completed a work item, with its outcome and effort."""

    name = "work_item.completed"
    work_item_id: int
    account_id: int
    squad_id: int
    play_id: int | None
    outcome: str
    effort_minutes: int
    completed_by: int | None


@dataclasses.dataclass(frozen=True)
class PlayFired(DomainEvent):
    """A play's run created work items (sent as a signed webhook when the play asks for it)."""

    name = "play.fired"
    play_id: int
    play_name: str
    squad_id: int
    account_ids: list[int]
    work_item_ids: list[int]
