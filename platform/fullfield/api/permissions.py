from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


class IsAuthenticatedWithScope(BasePermission):
    """A signed-in user, or an API key whose scope covers the method (read keys only read)."""

    message = "This API key is read-only."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        scope = getattr(request.auth, "scope", None)
        if scope == "read":
            return request.method in SAFE_METHODS
        return True


class IsTenantAdmin(BasePermission):
    """Tenant administrators (staff users) only; API keys never manage credentials."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        user: Any = request.user
        return bool(user and user.is_authenticated and user.is_staff and request.auth is None)


class IsPlatformOperator(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        user: Any = request.user
        return bool(user and user.is_authenticated and user.is_staff)
