"""Typed access to django-tenants' per-connection schema state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

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
    return Tenant.objects.get(schema_name=current_schema())


def use_tenant(tenant: Tenant) -> None:
    _tenant_connection().set_tenant(tenant)


def use_public_schema() -> None:
    _tenant_connection().set_schema_to_public()
