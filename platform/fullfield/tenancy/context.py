"""Typed access to django-tenants' per-connection schema state."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from django.db import connection

if TYPE_CHECKING:
    from fullfield.tenancy.models import Tenant


def _tenant_connection() -> Any:
    return connection


def current_schema() -> str:
    return cast(str, _tenant_connection().schema_name)


def current_tenant() -> Tenant:
    """The Tenant row of the active schema, also inside django-tenants' schema_context()
    (which activates a schema with a stand-in object that carries no tenant fields)."""
    from fullfield.tenancy.models import Tenant

    tenant = _tenant_connection().tenant
    if isinstance(tenant, Tenant):
        return tenant
    found: Tenant = Tenant.objects.get(schema_name=current_schema())
    return found


def use_tenant(tenant: Tenant) -> None:
    _tenant_connection().set_tenant(tenant)


def use_public_schema() -> None:
    _tenant_connection().set_schema_to_public()


P = ParamSpec("P")
R = TypeVar("R")


def in_public_schema(func: Callable[P, R]) -> Callable[P, R]:
    """Run a service on the public schema whatever schema its caller left active (a request,
    a task or a test may have activated a tenant), then give the caller its schema back.

    django-tenants refuses to create or drop a tenant from inside another tenant's schema, and
    public rows must never be looked up through a tenant's search path.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        tenant_connection = _tenant_connection()
        previous = tenant_connection.tenant
        tenant_connection.set_schema_to_public()
        try:
            return func(*args, **kwargs)
        finally:
            if previous is not None:
                tenant_connection.set_tenant(previous)

    return wrapper
