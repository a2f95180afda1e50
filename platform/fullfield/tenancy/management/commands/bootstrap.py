from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.utils.module_loading import import_string
from django_tenants.utils import schema_context

from fullfield.tenancy.selectors import tenant_get
from fullfield.tenancy.services import (
    platform_ensure_public_tenant,
    platform_ensure_template,
    tenant_create,
)


class Command(BaseCommand):
    help = "Migrate every schema, ensure the template, and optionally a seeded demo tenant."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--demo", action="store_true", help="create and seed the demo tenant")
        parser.add_argument("--demo-password", default="fullfield-demo")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
        platform_ensure_public_tenant()
        platform_ensure_template()
        call_command(
            "migrate_schemas",
            tenant=True,
            executor="multiprocessing",
            interactive=False,
            verbosity=0,
        )
        if options["demo"]:
            self._ensure_demo(password=options["demo_password"])

    def _ensure_demo(self, *, password: str) -> None:
        slug = settings.FULLFIELD_DEMO_TENANT
        tenant = tenant_get(slug=slug)
        if tenant is None:
            tenant = tenant_create(
                slug=slug,
                name=slug.capitalize() + " Inc.",
                admin_email=f"admin@{slug}.example",
                admin_password=password,
            ).tenant
            self.stdout.write(f"created demo tenant {slug}")
        for seeder_path in getattr(settings, "FULLFIELD_DEMO_SEEDERS", []):
            with schema_context(tenant.schema_name):
                import_string(seeder_path)(stdout=self.stdout)
