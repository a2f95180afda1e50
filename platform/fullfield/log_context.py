"""Per-request / per-task log context: every log line names its tenant and request or task id."""

from __future__ import annotations

import logging
from contextvars import ContextVar

current_tenant: ContextVar[str] = ContextVar("current_tenant", default="-")
current_request_id: ContextVar[str] = ContextVar("current_request_id", default="-")


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.tenant = current_tenant.get()
        record.request_id = current_request_id.get()
        return True
