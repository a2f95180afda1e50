"""A small typed domain-event bus.

Apps publish events; subscribers are Celery task names, so news travels upward
(accounts -> scoring -> squads) without imports pointing up. Events are delivered
only after the publishing transaction commits.

`publish` sends one task per subscriber. `publish_many` publishes many events of one type at
once (a recompute's band changes): each subscriber gets one `fullfield.events_deliver` task per
BATCH_SIZE events, which runs the subscriber's task for each event inside the worker (see
fullfield.tasks), so a hundred thousand events cost a hundred messages, not two hundred
thousand, and each event still reaches each subscriber exactly once.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, ClassVar

from django.db import transaction


@dataclasses.dataclass(frozen=True)
class DomainEvent:
    name: ClassVar[str] = "event"

    def payload(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_subscribers: dict[str, list[str]] = defaultdict(list)


def subscribe(event_type: type[DomainEvent], task_name: str) -> None:
    if task_name not in _subscribers[event_type.name]:
        _subscribers[event_type.name].append(task_name)


def subscribers(event_type: type[DomainEvent]) -> list[str]:
    return list(_subscribers[event_type.name])


def publish(event: DomainEvent) -> None:
    _publish_one(event)


def _publish_one(event: DomainEvent) -> None:
    from fullfield.celery_app import app

    task_names = subscribers(type(event))

    def send() -> None:
        for task_name in task_names:
            app.send_task(task_name, kwargs={"event": event.name, **event.payload()})

    transaction.on_commit(send)


DELIVER_TASK = "fullfield.events_deliver"
BATCH_SIZE = 1_000


def publish_many(batch: Sequence[DomainEvent]) -> None:
    """Publish every event of `batch` (all of one type), delivered in batches after commit."""
    if not batch:
        return
    if len(batch) == 1:
        _publish_one(batch[0])
        return
    from fullfield.celery_app import app

    task_names = subscribers(type(batch[0]))
    payloads = [{"event": event.name, **event.payload()} for event in batch]

    def send() -> None:
        for task_name in task_names:
            for start in range(0, len(payloads), BATCH_SIZE):
                app.send_task(
                    DELIVER_TASK,
                    kwargs={"task_name": task_name, "events": payloads[start : start + BATCH_SIZE]},
                )

    transaction.on_commit(send)
