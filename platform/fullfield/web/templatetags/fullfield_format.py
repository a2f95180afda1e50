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


@register.filter
def measured(value: float | None, unit: str) -> str:
    """A health input in its unit: 42 "%" -> "42%", 3 "days" -> "3 days", 1 "0/1" -> "yes"."""
    if value is None:
        return "no data"
    if unit == "0/1":
        return "yes" if value else "no"
    number = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    if unit == "%":
        return f"{number}%"
    if unit == "0..100":
        return f"{number} of 100"
    return f"{number} {unit}"


@register.filter
def change(value: float | None) -> str:
    """A score's change with its sign and an arrow: +3 ↑, -2.5 ↓, 0 (unchanged) ="""
    if value is None:
        return "—"
    if abs(value) < 0.05:
        return "± 0"
    number = f"{value:+.0f}" if abs(value) >= 1 else f"{value:+.1f}"
    return f"{number} {'↑' if value > 0 else '↓'}"
