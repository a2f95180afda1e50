from django.apps import AppConfig


class SquadsConfig(AppConfig):
    name = "apps.squads"
    label = "squads"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.accounts.events import AccountsTouched, LifecycleStageChanged
        from apps.scoring.events import HealthBandChanged, HealthScoresChanged
        from apps.squads.events import PlayFired, WorkItemCompleted, WorkItemCreated
        from fullfield.events import subscribe

        # Task names, not imports: the arrows of DESIGN.md stay pointing down.
        for event_type in (
            HealthBandChanged,
            HealthScoresChanged,
            AccountsTouched,
            LifecycleStageChanged,
        ):
            subscribe(event_type, "squads.plays_evaluate")
        for own_event in (WorkItemCreated, WorkItemCompleted, PlayFired):
            subscribe(own_event, "integrations.webhooks_dispatch")
