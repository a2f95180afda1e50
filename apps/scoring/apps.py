from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "apps.scoring"
    label = "scoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.accounts.events import AccountsTouched
        from apps.scoring.events import HealthBandChanged
        from fullfield.events import subscribe

        subscribe(AccountsTouched, "scoring.accounts_touched")
        # Outbound webhooks send health_band.changed (by task name: scoring imports no
        # integrations; see apps.integrations.webhooks.event_types).
        subscribe(HealthBandChanged, "integrations.webhooks_dispatch")
