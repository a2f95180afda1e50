"""The Celery application: tenant-aware (tenant-schemas-celery), one task per schema."""

from __future__ import annotations

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fullfield.settings")

app = CeleryApp("fullfield", task_cls="fullfield.tasks:TenantTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
