from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "apps.integrations"
    label = "integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.accounts.events import LifecycleStageChanged
        from apps.integrations import schema  # noqa: F401  (registers the OpenAPI auth scheme)
        from apps.integrations.events import ImportFinished
        from apps.integrations.webhooks.event_types import WEBHOOK_DISPATCH_TASK
        from fullfield.events import subscribe

        # Outbound webhooks hear these domain events; scoring and squads subscribe the same
        # task name to theirs (see apps.integrations.webhooks.event_types).
        for event_type in (LifecycleStageChanged, ImportFinished):
            subscribe(event_type, WEBHOOK_DISPATCH_TASK)
