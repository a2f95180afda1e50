from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "fullfield.web"
    label = "web"
