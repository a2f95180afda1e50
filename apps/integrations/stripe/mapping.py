"""Pure translation of Stripe objects (customer, subscription, invoice) into Fullfield terms.

No database access here: the services decide what to write; these functions only read the
snapshot Stripe sent and say what it means (MRR, status, dates, account fields).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from fullfield.errors import DomainError

# Stripe amounts are in the currency's smallest unit. Most currencies have 2 decimals; these
# are Stripe's zero-decimal and three-decimal currencies (docs.stripe.com/currencies).
# fmt: off
ZERO_DECIMAL_CURRENCIES = frozenset([
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
])
THREE_DECIMAL_CURRENCIES = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])
# fmt: on

# Months per billing interval: a yearly price of 1200 is 100 a month, a weekly one x 52/12.
MONTHS_PER_INTERVAL = {
    "day": Decimal(12) / Decimal(365),
    "week": Decimal(12) / Decimal(52),
    "month": Decimal(1),
    "year": Decimal(12),
}

# Addresses at these providers say nothing about the customer's company.
# fmt: off
FREE_MAIL_DOMAINS = frozenset([
    "gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com",
    "msn.com", "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.com",
    "gmx.de", "web.de", "mail.com", "yandex.ru", "qq.com", "163.com",
])
# fmt: on

CENT = Decimal("0.01")


class StripeEventRefused(DomainError):
    """A correctly signed event Fullfield will not apply (e.g. money in another currency)."""

    status_code = 422
    code = "event_refused"


def minor_unit_divisor(currency: str) -> Decimal:
    if currency in ZERO_DECIMAL_CURRENCIES:
        return Decimal(1)
    if currency in THREE_DECIMAL_CURRENCIES:
        return Decimal(1000)
    return Decimal(100)


def timestamp_to_datetime(value: Any, *, field: str) -> dt.datetime:
    if isinstance(value, bool) or not isinstance(value, int):
        raise StripeEventRefused(
            f"{field} must be a Unix timestamp.", fields={field: ["Expected an integer."]}
        )
    return dt.datetime.fromtimestamp(value, tz=dt.UTC)


def optional_date(value: Any, *, field: str) -> dt.date | None:
    if value is None:
        return None
    return timestamp_to_datetime(value, field=field).date()


def check_currency(raw: Any, *, field: str, tenant_currency: str) -> str:
    """The object's currency, upper-cased; any currency but the tenant's is refused."""
    if raw in (None, ""):
        return tenant_currency
    currency = str(raw).upper()
    if currency != tenant_currency:
        raise StripeEventRefused(
            f"The event is in {currency} but this tenant keeps money in {tenant_currency}; "
            "amounts in different currencies are never mixed.",
            fields={field: [f"Expected {tenant_currency.lower()}, got {str(raw).lower()}."]},
        )
    return currency


@dataclasses.dataclass(frozen=True)
class CustomerFields:
    name: str
    domain: str
    currency: str


def customer_fields(customer: Mapping[str, Any], *, tenant_currency: str) -> CustomerFields:
    email = str(customer.get("email") or "")
    _, _, email_domain = email.rpartition("@")
    email_domain = email_domain.strip().lower()
    domain = "" if email_domain in FREE_MAIL_DOMAINS else email_domain
    name = str(
        customer.get("name") or customer.get("description") or email or customer.get("id") or ""
    )
    currency = check_currency(
        customer.get("currency"), field="data.object.currency", tenant_currency=tenant_currency
    )
    return CustomerFields(name=name[:200], domain=domain[:253], currency=currency)


@dataclasses.dataclass(frozen=True)
class SubscriptionSnapshot:
    """What a Stripe subscription object means for Fullfield's terms."""

    subscription_id: str
    customer_id: str
    stripe_status: str
    mrr: Decimal
    plan: str
    quantity: int
    currency: str
    start_date: dt.date
    ended_on: dt.date | None
    notes: tuple[str, ...]

    @property
    def term_status(self) -> str | None:
        """The term status this snapshot asks for; None when no term is in force."""
        return STRIPE_TERM_STATUS.get(self.stripe_status)

    @property
    def ended(self) -> bool:
        return self.stripe_status in ENDED_STATUSES


# Stripe status -> term status. `unpaid` (retries exhausted, the subscription still open) is
# kept as past_due: it still counts as MRR until Stripe cancels it.
STRIPE_TERM_STATUS = {
    "trialing": "trialing",
    "active": "active",
    "past_due": "past_due",
    "unpaid": "past_due",
}
# No term is in force for these: paused subscriptions bill nothing until resumed.
ENDED_STATUSES = frozenset({"canceled", "incomplete_expired", "paused"})
# `incomplete` (first payment pending) has not started: no term until it becomes active.


def _item_monthly_amount(
    item: Mapping[str, Any], *, index: int, tenant_currency: str
) -> tuple[Decimal, int, str, str | None]:
    """(monthly amount in minor units, quantity, plan label, note) of one subscription item."""
    field = f"data.object.items.data[{index}]"
    price = item.get("price") or item.get("plan")
    if not isinstance(price, Mapping):
        raise StripeEventRefused(
            "A subscription item has no price.", fields={f"{field}.price": ["Missing."]}
        )
    check_currency(
        price.get("currency"), field=f"{field}.price.currency", tenant_currency=tenant_currency
    )
    label = str(price.get("nickname") or price.get("lookup_key") or price.get("id") or "stripe")
    quantity = item.get("quantity")
    quantity = quantity if isinstance(quantity, int) and quantity >= 0 else 1
    # Legacy plan objects carry interval fields at the top level; prices under `recurring`.
    recurring = price.get("recurring") if "recurring" in price else price
    if not isinstance(recurring, Mapping) or not recurring.get("interval"):
        return Decimal(0), quantity, label, f"{field}: a one-time price adds no MRR."
    if recurring.get("usage_type") == "metered" or price.get("billing_scheme") == "tiered":
        return (
            Decimal(0),
            quantity,
            label,
            f"{field}: metered or tiered prices have no fixed amount; counted as 0 MRR.",
        )
    interval = str(recurring.get("interval"))
    interval_count = recurring.get("interval_count") or 1
    if interval not in MONTHS_PER_INTERVAL or not isinstance(interval_count, int):
        raise StripeEventRefused(
            "A subscription item has an unknown billing interval.",
            fields={f"{field}.price.recurring.interval": [f"Unknown interval {interval!r}."]},
        )
    amount = price.get("unit_amount")
    if amount is None:
        amount = price.get("amount")  # legacy plan objects
    if amount is None and price.get("unit_amount_decimal") is not None:
        amount = Decimal(str(price["unit_amount_decimal"]))
    if amount is None:
        raise StripeEventRefused(
            "A subscription item's price has no unit amount.",
            fields={f"{field}.price.unit_amount": ["Missing."]},
        )
    months = MONTHS_PER_INTERVAL[interval] * Decimal(interval_count)
    return Decimal(amount) * quantity / months, quantity, label, None


def subscription_snapshot(
    subscription: Mapping[str, Any], *, tenant_currency: str
) -> SubscriptionSnapshot:
    """MRR = sum over items of unit amount x quantity, per month, in major units.

    Discounts, coupons and taxes are not applied: MRR here is the list price of the items.
    """
    subscription_id = subscription.get("id")
    if not isinstance(subscription_id, str) or not subscription_id:
        raise StripeEventRefused(
            "The subscription has no id.", fields={"data.object.id": ["Missing."]}
        )
    customer = subscription.get("customer")
    customer_id = customer.get("id") if isinstance(customer, Mapping) else customer
    if not isinstance(customer_id, str) or not customer_id:
        raise StripeEventRefused(
            "The subscription names no customer.", fields={"data.object.customer": ["Missing."]}
        )
    currency = check_currency(
        subscription.get("currency"), field="data.object.currency", tenant_currency=tenant_currency
    )
    items = (subscription.get("items") or {}).get("data") or []
    if not isinstance(items, list):
        raise StripeEventRefused(
            "The subscription items are malformed.",
            fields={"data.object.items.data": ["Expected a list."]},
        )
    total = Decimal(0)
    quantity = 0
    labels: list[str] = []
    notes: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise StripeEventRefused(
                "A subscription item is malformed.",
                fields={f"data.object.items.data[{index}]": ["Expected an object."]},
            )
        amount, item_quantity, label, note = _item_monthly_amount(
            item, index=index, tenant_currency=tenant_currency
        )
        total += amount
        quantity += item_quantity
        labels.append(label)
        if note:
            notes.append(note)
    mrr = (total / minor_unit_divisor(currency)).quantize(CENT, rounding=ROUND_HALF_UP)
    plan = labels[0] if labels else "stripe"
    if len(labels) > 1:
        plan = f"{plan} +{len(labels) - 1}"
    start = subscription.get("start_date") or subscription.get("created")
    start_date = timestamp_to_datetime(start, field="data.object.start_date").date()
    ended_at = subscription.get("ended_at") or subscription.get("canceled_at")
    return SubscriptionSnapshot(
        subscription_id=subscription_id,
        customer_id=customer_id,
        stripe_status=str(subscription.get("status") or ""),
        mrr=mrr,
        plan=plan[:100],
        quantity=quantity,
        currency=currency,
        start_date=start_date,
        ended_on=optional_date(ended_at, field="data.object.ended_at"),
        notes=tuple(notes),
    )


def invoice_subscription_id(invoice: Mapping[str, Any]) -> str | None:
    """The subscription an invoice bills: `subscription` before API 2025-03-31, `parent` after."""
    subscription = invoice.get("subscription")
    if subscription is None:
        parent = invoice.get("parent") or {}
        details = parent.get("subscription_details") if isinstance(parent, Mapping) else None
        subscription = details.get("subscription") if isinstance(details, Mapping) else None
    if isinstance(subscription, Mapping):
        subscription = subscription.get("id")
    return subscription if isinstance(subscription, str) and subscription else None
