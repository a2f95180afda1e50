from __future__ import annotations

from django.db import models
from django_tenants.models import DomainMixin, TenantMixin

SLUG_PATTERN = r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"


class Tenant(TenantMixin):  # type: ignore[misc]  # django-tenants ships no types
    """A client company. Its data lives in the PostgreSQL schema `schema_name`."""

    slug = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    ready = models.BooleanField(
        default=False,
        help_text="Provisioned and serving; periodic work runs only for ready tenants.",
    )
    created = models.DateTimeField(auto_now_add=True)
    currency = models.CharField(
        max_length=3,
        default="USD",
        help_text="ISO 4217 code. Money in another currency is refused, never silently mixed.",
    )
    ingest_creates_unknown_accounts = models.BooleanField(
        default=True,
        help_text="Ingested records naming an unknown account create it (otherwise: rejected).",
    )

    auto_create_schema = True
    auto_drop_schema = True

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(slug__regex=SLUG_PATTERN)
                | models.Q(schema_name__in=["public", "_template"]),
                name="tenant_slug_is_a_hostname_label",
            ),
            models.CheckConstraint(
                condition=models.Q(currency__regex=CURRENCY_PATTERN), name="tenant_currency_iso"
            ),
        ]

    def __str__(self) -> str:
        return self.slug


class Domain(DomainMixin):  # type: ignore[misc]  # django-tenants ships no types
    pass
