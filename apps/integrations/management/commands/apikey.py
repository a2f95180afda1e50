from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import schema_context

from apps.integrations.models import ApiKey
from apps.integrations.services import api_key_create, api_key_revoke
from fullfield.errors import DomainError
from fullfield.tenancy.selectors import tenant_get


class Command(BaseCommand):
    help = "Create, list or revoke a tenant's API keys (the key is printed once, when created)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="create a key and print it once")
        create.add_argument("--tenant", required=True, help="the tenant's slug")
        create.add_argument("--name", required=True, help="what the key is for, e.g. crm-sync")
        create.add_argument("--scope", choices=ApiKey.Scope.values, default=ApiKey.Scope.READ)
        listing = actions.add_parser("list", help="list the tenant's keys (never the keys)")
        listing.add_argument("--tenant", required=True)
        revoke = actions.add_parser("revoke", help="revoke a key by its id (its prefix)")
        revoke.add_argument("key_id")
        revoke.add_argument("--tenant", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_get(slug=options["tenant"])
        if tenant is None or not tenant.ready:
            raise CommandError(f"no ready tenant '{options['tenant']}' (fullfield tenant list)")
        try:
            with schema_context(tenant.schema_name):
                getattr(self, f"_{options['action']}")(options)
        except DomainError as error:
            details = "; ".join(f"{f}: {' '.join(m)}" for f, m in error.fields.items())
            raise CommandError(f"{error.message} {details}".strip()) from error

    def _create(self, options: dict[str, Any]) -> None:
        api_key, key = api_key_create(name=options["name"], scope=options["scope"], created_by=None)
        self.stderr.write(
            f"created API key {api_key.prefix} ({api_key.name}, {api_key.scope}) for "
            f"{options['tenant']}; it is shown this once. Send it as: Authorization: Api-Key <key>"
        )
        self.stdout.write(key)

    def _list(self, options: dict[str, Any]) -> None:
        for api_key in ApiKey.objects.order_by("-created"):
            state = "revoked" if api_key.revoked else "active"
            self.stdout.write(f"{api_key.prefix}\t{api_key.name}\t{api_key.scope}\t{state}")

    def _revoke(self, options: dict[str, Any]) -> None:
        api_key = api_key_revoke(prefix=options["key_id"])
        self.stdout.write(f"revoked {api_key.prefix} ({api_key.name})")
