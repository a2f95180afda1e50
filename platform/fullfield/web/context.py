"""What every page's layout needs: which site it is on and its navigation."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django_tenants.utils import get_public_schema_name

TENANT_SECTIONS = (
    ("Dashboard", "/"),
    ("Accounts", "/accounts/"),
    ("Field", "/field/"),
    ("Queues", "/queues/"),
    ("Squads", "/squads/"),
    ("Plays", "/plays/"),
    ("Scoring", "/settings/scoring/"),
    ("Integrations", "/integrations/"),
    ("Users", "/settings/users/"),
    ("API docs", "/api/docs/"),
)
PUBLIC_SECTIONS = (
    ("Product", "/"),
    ("Sign up", "/signup/"),
    ("Operators", "/operator/"),
)


def layout(request: HttpRequest) -> dict[str, Any]:
    tenant = getattr(request, "tenant", None)
    on_tenant = tenant is not None and tenant.schema_name != get_public_schema_name()
    sections = TENANT_SECTIONS if on_tenant else PUBLIC_SECTIONS
    path = request.path
    navigation = [
        {
            "label": label,
            "href": href,
            # "/" is current only on itself; other sections own everything below them.
            "current": path == href if href == "/" else path.startswith(href),
        }
        for label, href in sections
    ]
    return {
        "on_tenant": on_tenant,
        "site_tenant": tenant if on_tenant else None,
        "navigation": navigation,
    }
