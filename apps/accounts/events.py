"""Domain events published by the account record (see fullfield.events)."""

from __future__ import annotations

import dataclasses

from fullfield.events import DomainEvent


@dataclasses.dataclass(frozen=True)
class AccountsTouched(DomainEvent):
    """New data arrived for these accounts; their scores are stale."""

    name = "accounts.touched"
    account_ids: list[int]


@dataclasses.dataclass(frozen=True)
class LifecycleStageChanged(DomainEvent):
    name = "lifecycle_stage.changed"
    account_id: int
    previous_stage: str
    stage: str
