from __future__ import annotations

from django.db.models import QuerySet
from django_tenants.utils import get_public_schema_name

from fullfield.tenancy.models import Tenant

TEMPLATE_SCHEMA = "_template"


def tenant_list() -> QuerySet[Tenant]:
    """Client tenants: every tenant but the public schema and the provisioning template."""
    tenants: QuerySet[Tenant] = Tenant.objects.exclude(
        schema_name__in=[get_public_schema_name(), TEMPLATE_SCHEMA]
    )
    return tenants


def tenant_list_ready() -> QuerySet[Tenant]:
    return tenant_list().filter(ready=True)


def tenant_get(*, slug: str) -> Tenant | None:
    return tenant_list().filter(slug=slug).first()
