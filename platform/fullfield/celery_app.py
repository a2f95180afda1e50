"""The Celery application: tenant-aware (tenant-schemas-celery), one task per schema."""

from __future__ import annotations

import os

from kombu.transport import TRANSPORT_ALIASES
from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fullfield.settings")
# Workers reconnect after a broker outage instead of exiting (see fullfield.broker).
TRANSPORT_ALIASES.update(redis="fullfield.broker:Transport", rediss="fullfield.broker:Transport")

app = CeleryApp("fullfield", task_cls="fullfield.tasks:TenantTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
