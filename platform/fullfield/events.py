"""A small typed domain-event bus.

Apps publish events; subscribers are Celery task names, so news travels upward
(accounts -> scoring -> squads) without imports pointing up. Events are delivered
only after the publishing transaction commits.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
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
    from fullfield.celery_app import app

    task_names = subscribers(type(event))

    def send() -> None:
        for task_name in task_names:
            app.send_task(task_name, kwargs={"event": event.name, **event.payload()})

    transaction.on_commit(send)
