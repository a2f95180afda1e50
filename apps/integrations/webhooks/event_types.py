"""The outbound webhook event types, and which domain events feed them.

Adding a source (scoring's health_band.changed, squads' work_item.*): the app that defines the
domain event subscribes the dispatch task by name in its AppConfig.ready(),

    fullfield.events.subscribe(HealthBandChanged, "integrations.webhooks_dispatch")

(a task name, so no import points up), and the event name is listed below. The event's
payload() becomes the webhook's `data`.
"""

from __future__ import annotations

WEBHOOK_DISPATCH_TASK = "integrations.webhooks_dispatch"

EVENT_TYPES: dict[str, str] = {
    "health_band.changed": "An account's health score moved to another band (good, average, poor).",
    "work_item.created": "A play put a new work item in a squad's queue.",
    "work_item.completed": "A squad member completed a work item.",
    "play.fired": "A play's run put new work items in a squad's queue.",
    "lifecycle_stage.changed": "An account moved to another lifecycle stage (e.g. churned).",
    "import.finished": "A CSV import job finished, with its counts.",
}
"""Event types an endpoint can subscribe to, with what they mean."""

TEST_EVENT_TYPE = "webhook.test"
"""Sent by the "send test event" action only; not subscribable."""

DOMAIN_EVENT_WEBHOOK_TYPES: dict[str, str] = {
    "health_band.changed": "health_band.changed",
    "work_item.created": "work_item.created",
    "work_item.completed": "work_item.completed",
    "play.fired": "play.fired",
    "lifecycle_stage.changed": "lifecycle_stage.changed",
    "import.finished": "import.finished",
}
"""Domain event name (fullfield.events) -> webhook event type."""
