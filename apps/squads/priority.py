"""How urgent an item is, in money: expected loss for risks, expected gain for expansion.

- Risk: churn probability x ARR (ARR = 12 x the MRR of the terms in force today).
- No score yet: ARR x FALLBACK_CHURN_PROBABILITY, so unscored accounts still rank by value.
- Expansion: the open expansion opportunities' amount x the health score / 100 (0.5 unscored).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, Sum
from django.utils import timezone

from apps.accounts.models import Opportunity, Subscription
from apps.scoring.selectors import CurrentHealth, account_current_health
from apps.squads.models import PriorityBasis

# Roughly a year's churn rate of a B2B SaaS book; only used until an account has a score.
FALLBACK_CHURN_PROBABILITY = Decimal("0.10")
UNSCORED_EXPANSION_LIKELIHOOD = Decimal("0.5")
CENTS = Decimal("0.01")


@dataclass(frozen=True)
class Priority:
    value: Decimal
    basis: str
    band: str = ""  # the account's current health band, "" when unscored


def account_arr(*, account_ids: Collection[int]) -> dict[int, Decimal]:
    today = timezone.now().date()
    rows = (
        Subscription.objects.filter(Subscription.in_force_on(today), account_id__in=account_ids)
        .values("account_id")
        .annotate(mrr=Sum("mrr"))
    )
    return {row["account_id"]: row["mrr"] * 12 for row in rows}


def account_open_expansion(*, account_ids: Collection[int]) -> dict[int, Decimal]:
    rows = (
        Opportunity.objects.filter(
            Q(kind=Opportunity.Kind.EXPANSION) & Q(status=Opportunity.Status.OPEN),
            account_id__in=account_ids,
        )
        .values("account_id")
        .annotate(amount=Sum("amount"))
    )
    return {row["account_id"]: row["amount"] for row in rows}


def priorities(*, account_ids: Collection[int], expansion: bool = False) -> dict[int, Priority]:
    """The priority of an item on each of these accounts (three queries, whatever the count)."""
    health = account_current_health(account_ids=account_ids)
    result: dict[int, Priority] = {}
    if expansion:
        amounts = account_open_expansion(account_ids=account_ids)
        for account_id in account_ids:
            current = health.get(account_id)
            likelihood = (
                Decimal(str(current.score)) / 100
                if current is not None
                else UNSCORED_EXPANSION_LIKELIHOOD
            )
            value = amounts.get(account_id, Decimal(0)) * likelihood
            result[account_id] = Priority(
                value.quantize(CENTS), PriorityBasis.EXPECTED_GAIN, _band(current)
            )
        return result
    arr = account_arr(account_ids=account_ids)
    for account_id in account_ids:
        current = health.get(account_id)
        probability = current.churn_probability if current is not None else None
        if probability is None:
            value = arr.get(account_id, Decimal(0)) * FALLBACK_CHURN_PROBABILITY
            basis = PriorityBasis.FALLBACK
        else:
            value = arr.get(account_id, Decimal(0)) * Decimal(str(probability))
            basis = PriorityBasis.EXPECTED_LOSS
        result[account_id] = Priority(value.quantize(CENTS), basis, _band(current))
    return result


def _band(current: CurrentHealth | None) -> str:
    return current.band if current is not None else ""


def account_band(*, account_id: int) -> str:
    return _band(account_current_health(account_ids=[account_id]).get(account_id))
