"""Assigning accounts to a squad: the one write of Account.squad_id for many accounts."""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.models import Account


@transaction.atomic
def accounts_assign_squad(*, accounts: QuerySet[Account], squad_id: int | None) -> int:
    """Put every account of `accounts` in the squad (None: in none), in one UPDATE; returns
    how many accounts it covered.

    No rescoring is requested: health, ROI and CLV do not read the squad, and squads' figures
    (scorecards, equity per squad) group the accounts by their squad when they are read. The
    caller checks that the squad is the tenant's and that the user may assign.
    """
    return Account.objects.filter(pk__in=accounts.order_by().values("pk")).update(
        squad_id=squad_id, updated_at=timezone.now()
    )
