"""Provisioning: tenants are cloned from a migrated template schema, ready in seconds."""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection
from django_tenants.utils import get_public_schema_name, schema_context, schema_exists

from fullfield.errors import Conflict, DomainError, NotFound
from fullfield.tenancy.context import in_public_schema, use_public_schema
from fullfield.tenancy.models import CURRENCY_PATTERN, SLUG_PATTERN, Domain, Tenant
from fullfield.tenancy.selectors import TEMPLATE_SCHEMA, tenant_get
from fullfield.users.models import User

logger = logging.getLogger(__name__)

RESERVED_SLUGS = frozenset({"public", "template", "www", "api", "admin", "static", "app"})


@dataclass(frozen=True)
class ProvisionedTenant:
    tenant: Tenant
    url: str
    admin_email: str
    admin_password: str


def schema_name_for(slug: str) -> str:
    return slug.replace("-", "_")


def tenant_url(tenant: Tenant, *, port: int | None = None) -> str:
    """The address the tenant is served at: https only when HTTPS is on, with the port that
    is served (FULLFIELD_PUBLIC_PORT) unless it is the scheme's default."""
    host = f"{tenant.slug}.{settings.FULLFIELD_BASE_DOMAIN}"
    scheme = "https" if settings.HTTPS else "http"
    port = port or settings.FULLFIELD_PUBLIC_PORT
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{host}/" if port == default else f"{scheme}://{host}:{port}/"


@in_public_schema
def platform_ensure_public_tenant() -> Tenant:
    """The public tenant answers the bare base domain (operator API, health checks)."""
    public: Tenant
    public, _ = Tenant.objects.get_or_create(
        schema_name=get_public_schema_name(),
        defaults={"slug": "public", "name": "Fullfield platform", "ready": True},
    )
    Domain.objects.get_or_create(
        domain=settings.FULLFIELD_BASE_DOMAIN, defaults={"tenant": public, "is_primary": True}
    )
    return public


@in_public_schema
def platform_ensure_template() -> Tenant:
    """The template schema every tenant is cloned from; creating it runs the tenant migrations."""
    template: Tenant | None = Tenant.objects.filter(schema_name=TEMPLATE_SCHEMA).first()
    if template is None:
        template = Tenant(schema_name=TEMPLATE_SCHEMA, slug=TEMPLATE_SCHEMA, name="Template")
        template.save(verbosity=0)
    return template


def _validate_new_tenant(*, slug: str, name: str, admin_email: str, currency: str) -> None:
    errors: dict[str, list[str]] = {}
    if not re.match(SLUG_PATTERN, slug):
        errors["slug"] = [
            "Use 2-40 lowercase letters, digits or hyphens, starting with a letter "
            "and not ending with a hyphen."
        ]
    elif slug in RESERVED_SLUGS:
        errors["slug"] = [f"'{slug}' is reserved."]
    if not name.strip():
        errors["name"] = ["A name is required."]
    try:
        validate_email(admin_email)
    except ValidationError:
        errors["admin_email"] = ["Enter a valid email address."]
    if not re.match(CURRENCY_PATTERN, currency):
        errors["currency"] = ["Use a three-letter ISO 4217 code, e.g. USD or EUR."]
    if errors:
        raise DomainError("The tenant could not be created.", fields=errors)
    if Tenant.objects.filter(slug=slug).exists() or schema_exists(schema_name_for(slug)):
        raise Conflict(f"A tenant '{slug}' already exists.", fields={"slug": ["Already taken."]})


def _storage_parameters_copy(*, schema: str) -> None:
    """Give the clone's tables the template's storage parameters (e.g. a fillfactor left for
    in-place updates): the schema clone's CREATE TABLE ... LIKE does not carry them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, array_to_string(c.reloptions, ', ') FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
            "AND c.relkind = 'r' AND c.reloptions IS NOT NULL",
            [TEMPLATE_SCHEMA],
        )
        for table, options in cursor.fetchall():
            cursor.execute(f'ALTER TABLE "{schema}"."{table}" SET ({options})')


@in_public_schema
def tenant_create(
    *,
    slug: str,
    name: str,
    admin_email: str,
    admin_password: str | None = None,
    currency: str = "USD",
) -> ProvisionedTenant:
    """Create a tenant by cloning the template schema, with its domain and first admin.

    Either the whole tenant exists afterwards, ready, or nothing of it does. The currency is
    fixed at creation: every amount the tenant stores is in it.
    """
    slug = slug.strip().lower()
    admin_email = admin_email.strip().lower()
    currency = currency.strip().upper()
    _validate_new_tenant(slug=slug, name=name, admin_email=admin_email, currency=currency)
    platform_ensure_template()
    password = admin_password or secrets.token_urlsafe(12)

    tenant = Tenant(
        schema_name=schema_name_for(slug), slug=slug, name=name.strip(), currency=currency
    )
    try:
        tenant.save(verbosity=0)
        _storage_parameters_copy(schema=tenant.schema_name)
        Domain.objects.create(
            domain=f"{slug}.{settings.FULLFIELD_BASE_DOMAIN}", tenant=tenant, is_primary=True
        )
        with schema_context(tenant.schema_name):
            User.objects.create_superuser(admin_email, password, full_name="Administrator")
        tenant.ready = True
        tenant.save(update_fields=["ready"])
    except BaseException:
        logger.exception("provisioning %s failed; removing what was created", slug)
        use_public_schema()
        if tenant.pk:
            tenant.delete(force_drop=True)
        raise
    logger.info("provisioned tenant %s", slug)
    return ProvisionedTenant(
        tenant=tenant, url=tenant_url(tenant), admin_email=admin_email, admin_password=password
    )


@in_public_schema
def tenant_settings_update(
    *, tenant: Tenant, name: str | None = None, ingest_creates_unknown_accounts: bool | None = None
) -> Tenant:
    """Change what a tenant admin may change about their tenant."""
    changed: list[str] = []
    if name is not None:
        if not name.strip():
            raise DomainError("The name cannot be empty.", fields={"name": ["A name is required."]})
        tenant.name = name.strip()
        changed.append("name")
    if ingest_creates_unknown_accounts is not None:
        tenant.ingest_creates_unknown_accounts = ingest_creates_unknown_accounts
        changed.append("ingest_creates_unknown_accounts")
    if changed:
        tenant.save(update_fields=changed)
    return tenant


def tenant_delete(*, slug: str) -> None:
    """Drop a tenant's schema and every row of it. Irreversible.

    Leaves the connection on the public schema: the caller's schema may be the one dropped.
    """
    use_public_schema()
    tenant = tenant_get(slug=slug)
    if tenant is None:
        raise NotFound(f"No tenant '{slug}'.")
    tenant.delete(force_drop=True)
    logger.info("deleted tenant %s", slug)
