from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import schema_context

from apps.accounts.services.usage import usage_rollup_rebuild
from fullfield.tenancy.selectors import tenant_get


class Command(BaseCommand):
    help = "Rebuild a tenant's daily usage rollup from its raw usage events."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="the tenant's slug")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_get(slug=options["tenant"])
        if tenant is None:
            raise CommandError(f"No tenant with the slug {options['tenant']!r}.")
        with schema_context(tenant.schema_name):
            rows = usage_rollup_rebuild()
        self.stdout.write(f"{tenant.slug}: {rows} rollup rows (account x day x event name)")
