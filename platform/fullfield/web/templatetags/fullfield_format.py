"""Number formats shared by every page: money without cents, ratios as percentages."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def money(amount: Decimal | float | int | None) -> str:
    if amount is None:
        return "—"
    return f"{Decimal(amount):,.0f}"


@register.filter
def percent(ratio: Decimal | float | None, places: int = 1) -> str:
    """1.0345 -> "103.5%"; an undefined ratio (nothing to divide by) is a dash."""
    if ratio is None:
        return "—"
    return f"{Decimal(ratio) * 100:,.{places}f}%"


@register.filter
def signed_money(amount: Decimal | float | int | None) -> str:
    if amount is None:
        return "—"
    value = Decimal(amount)
    return f"{'+' if value > 0 else ''}{value:,.0f}"


@register.filter
def words(identifier: str) -> str:
    """ "survey_response" -> "Survey response"."""
    return identifier.replace("_", " ").capitalize()
