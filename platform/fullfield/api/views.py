from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

logger = logging.getLogger(__name__)


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Database and Redis reachability, for load balancers and orchestrators."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as error:
        logger.warning("healthz: database check failed: %s", error)
        checks["database"] = "error"
    try:
        cache.set("healthz", "ok", timeout=5)
        checks["redis"] = "ok" if cache.get("healthz") == "ok" else "error"
    except Exception as error:
        logger.warning("healthz: redis check failed: %s", error)
        checks["redis"] = "error"
    healthy = all(state == "ok" for state in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503
    )
