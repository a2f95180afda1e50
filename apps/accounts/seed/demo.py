"""The demo tenant's data, seeded by `fullfield bootstrap --demo` (see FULLFIELD_DEMO_SEEDERS)."""

from __future__ import annotations

import os
from typing import Protocol

from django.utils import timezone

from apps.accounts.models import Account
from apps.accounts.seed.writer import tenant_seed
from fullfield.errors import Conflict

DEMO_ACCOUNTS = 2000
DEMO_MONTHS = 18
DEMO_SEED = 1


class Output(Protocol):
    def write(self, message: str, /) -> object: ...


def seed_demo(
    *,
    stdout: Output,
    accounts: int = DEMO_ACCOUNTS,
    months: int = DEMO_MONTHS,
    seed: int = DEMO_SEED,
) -> None:
    """Seed the current tenant unless it already has accounts, so reruns never duplicate.

    The history ends today (the day of seeding). FULLFIELD_SKIP_DEMO_SEED=1 turns it off.
    """
    if os.environ.get("FULLFIELD_SKIP_DEMO_SEED") == "1":
        stdout.write("demo data: skipped (FULLFIELD_SKIP_DEMO_SEED=1)")
        return
    if Account.objects.exists():
        stdout.write("demo data: the tenant already has accounts; nothing seeded")
        return
    try:
        result = tenant_seed(
            anchor=timezone.now().date(), accounts=accounts, months=months, seed=seed
        )
    except Conflict:
        # Another process seeded it between our check and our lock.
        stdout.write("demo data: the tenant already has accounts; nothing seeded")
        return
    stdout.write(f"demo data: seeded {result.summary()}")
