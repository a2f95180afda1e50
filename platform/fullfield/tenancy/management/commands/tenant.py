from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fullfield.errors import DomainError
from fullfield.tenancy.selectors import tenant_list
from fullfield.tenancy.services import tenant_create, tenant_delete


class Command(BaseCommand):
    help = "Create, list or delete tenants."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="provision a tenant by cloning the template")
        create.add_argument("slug")
        create.add_argument("--name", required=True)
        create.add_argument("--admin-email", required=True)
        create.add_argument("--admin-password", default=None)
        create.add_argument("--currency", default="USD", help="ISO 4217 code (default USD)")
        actions.add_parser("list", help="list tenants")
        delete = actions.add_parser("delete", help="delete a tenant and all its data")
        delete.add_argument("slug")
        delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except DomainError as error:
            details = "; ".join(f"{f}: {' '.join(m)}" for f, m in error.fields.items())
            raise CommandError(f"{error.message} {details}".strip()) from error

    def _create(self, options: dict[str, Any]) -> None:
        provisioned = tenant_create(
            slug=options["slug"],
            name=options["name"],
            admin_email=options["admin_email"],
            admin_password=options["admin_password"],
            currency=options["currency"],
        )
        self.stdout.write(
            f"created {provisioned.tenant.slug}: {provisioned.url}\n"
            f"  admin: {provisioned.admin_email} / {provisioned.admin_password}"
        )

    def _list(self, options: dict[str, Any]) -> None:
        for tenant in tenant_list():
            state = "ready" if tenant.ready else "not ready"
            self.stdout.write(f"{tenant.slug}\t{tenant.name}\t{state}\t{tenant.created:%Y-%m-%d}")

    def _delete(self, options: dict[str, Any]) -> None:
        slug = options["slug"]
        if not options["yes"]:
            answer = input(f"Delete tenant '{slug}' and all its data? Type the slug to confirm: ")
            if answer.strip() != slug:
                raise CommandError("not confirmed; nothing deleted")
        tenant_delete(slug=slug)
        self.stdout.write(f"deleted {slug}")
