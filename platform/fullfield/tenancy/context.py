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
    return cast("Tenant", _tenant_connection().tenant)


def use_tenant(tenant: Tenant) -> None:
    _tenant_connection().set_tenant(tenant)


def use_public_schema() -> None:
    _tenant_connection().set_schema_to_public()
