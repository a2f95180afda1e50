from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "apps.scoring"
    label = "scoring"
    default_auto_field = "django.db.models.BigAutoField"
