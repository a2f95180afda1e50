from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.accounts.seed.demo import DEMO_ACCOUNTS, DEMO_MONTHS, DEMO_SEED
from apps.accounts.seed.writer import tenant_seed
from fullfield.errors import DomainError
from fullfield.tenancy.selectors import tenant_get


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise CommandError(f"--anchor: {text!r} is not a date like 2025-06-30") from error


class Command(BaseCommand):
    help = "Fill an empty tenant with a generated, realistic history (deterministic per seed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="the tenant's slug")
        parser.add_argument("--accounts", type=int, default=DEMO_ACCOUNTS)
        parser.add_argument("--months", type=int, default=DEMO_MONTHS, help="months of history")
        parser.add_argument("--seed", type=int, default=DEMO_SEED)
        parser.add_argument(
            "--usage-scale", type=float, default=1.0, help="multiplies usage event volume"
        )
        parser.add_argument(
            "--anchor", default=None, help="the last day of history, YYYY-MM-DD (default: today)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_get(slug=options["tenant"])
        if tenant is None:
            raise CommandError(f"--tenant: no tenant with slug {options['tenant']!r}")
        anchor = _day(options["anchor"]) if options["anchor"] else timezone.now().date()
        try:
            with schema_context(tenant.schema_name):
                result = tenant_seed(
                    anchor=anchor,
                    accounts=options["accounts"],
                    months=options["months"],
                    seed=options["seed"],
                    usage_scale=options["usage_scale"],
                )
        except DomainError as error:
            details = "; ".join(
                f"--{f.replace('_', '-')}: {' '.join(m)}" for f, m in error.fields.items()
            )
            raise CommandError(f"{error.message} {details}".strip()) from error
        self.stdout.write(f"seeded {tenant.slug}: {result.summary()}")
