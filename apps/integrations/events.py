"""Domain events published by integrations (see fullfield.events)."""

from __future__ import annotations

import dataclasses

from fullfield.events import DomainEvent


@dataclasses.dataclass(frozen=True)
class ImportFinished(DomainEvent):
    """A CSV import job reached its end (succeeded, partially succeeded or failed)."""

    name = "import.finished"
    job_id: int
    entity: str
    status: str
    total: int
    accepted: int
    rejected: int
