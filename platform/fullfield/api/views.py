from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fullfield.tenancy.context import current_tenant

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


class WhoAmISerializer(serializers.Serializer[Any]):
    tenant = serializers.CharField(help_text="The tenant's slug (its host name label).")
    credential = serializers.ChoiceField(choices=["session", "api_key"])
    name = serializers.CharField(help_text="The user's email or the API key's name.")
    scope = serializers.CharField(help_text="read or read_write.")


class WhoAmIApi(APIView):
    """Who the API sees: lets an integrator check a key before syncing with it."""

    @extend_schema(responses=WhoAmISerializer, operation_id="whoami")
    def get(self, request: Request) -> Response:
        api_key: Any = request.auth if hasattr(request.auth, "scope") else None
        body = {
            "tenant": current_tenant().slug,
            "credential": "api_key" if api_key is not None else "session",
            "name": api_key.name if api_key is not None else str(request.user),
            "scope": api_key.scope if api_key is not None else "read_write",
        }
        return Response(WhoAmISerializer(body).data)
