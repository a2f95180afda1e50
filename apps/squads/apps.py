from django.apps import AppConfig


class SquadsConfig(AppConfig):
    name = "apps.squads"
    label = "squads"
    default_auto_field = "django.db.models.BigAutoField"
