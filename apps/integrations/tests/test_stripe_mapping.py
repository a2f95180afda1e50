"""How Stripe objects translate into MRR and account fields (no database needed)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from apps.integrations.stripe.mapping import (
    StripeEventRefused,
    customer_fields,
    invoice_subscription_id,
    subscription_snapshot,
)


def sub(items: list[dict[str, Any]], currency: str = "usd", status: str = "active") -> Any:
    return {
        "id": "sub_1",
        "customer": {"id": "cus_1", "object": "customer"},
        "currency": currency,
        "status": status,
        "start_date": 1_767_225_600,
        "items": {"data": items},
    }


def item(price: dict[str, Any], quantity: int | None = 1) -> dict[str, Any]:
    return {"quantity": quantity, "price": price}


def price(amount: int | None, interval: str = "month", count: int = 1, **extra: Any) -> Any:
    recurring = {"interval": interval, "interval_count": count, "usage_type": "licensed"}
    return {"id": "price_1", "currency": "usd", "unit_amount": amount, "recurring": recurring} | (
        extra
    )


def test_weekly_and_daily_prices_become_monthly_amounts() -> None:
    weekly = subscription_snapshot(sub([item(price(1000, "week"))]), tenant_currency="USD")
    assert weekly.mrr == Decimal("43.33")  # 10 a week x 52 / 12
    daily = subscription_snapshot(sub([item(price(100, "day"))]), tenant_currency="USD")
    assert daily.mrr == Decimal("30.42")  # 1 a day x 365 / 12


def test_zero_decimal_currencies_are_not_divided_by_a_hundred() -> None:
    yen = price(5000) | {"currency": "jpy"}
    snapshot = subscription_snapshot(sub([item(yen, 2)], currency="jpy"), tenant_currency="JPY")
    assert snapshot.mrr == Decimal("10000.00")


def test_legacy_plan_objects_and_decimal_unit_amounts_are_understood() -> None:
    legacy = {
        "quantity": 4,
        "plan": {"id": "gold", "currency": "usd", "amount": 2500, "interval": "month"},
    }
    assert subscription_snapshot(sub([legacy]), tenant_currency="USD").mrr == Decimal("100.00")
    fractional = price(None) | {"unit_amount_decimal": "12.5"}
    snapshot = subscription_snapshot(sub([item(fractional, 10)]), tenant_currency="USD")
    assert snapshot.mrr == Decimal("1.25")


def test_metered_items_count_as_zero_and_say_so() -> None:
    metered = price(None)
    metered["recurring"]["usage_type"] = "metered"
    snapshot = subscription_snapshot(
        sub([item(price(2000)), item(metered, None)]), tenant_currency="USD"
    )
    assert snapshot.mrr == Decimal("20.00")
    assert "items.data[1]" in snapshot.notes[0]


def test_an_item_priced_in_another_currency_is_refused_by_its_index() -> None:
    euros = price(1000) | {"currency": "eur"}
    with pytest.raises(StripeEventRefused) as refused:
        subscription_snapshot(sub([item(price(1000)), item(euros)]), tenant_currency="USD")
    assert "data.object.items.data[1].price.currency" in refused.value.fields


def test_unpaid_subscriptions_still_count_as_past_due_and_paused_ones_end_the_term() -> None:
    unpaid = subscription_snapshot(sub([item(price(1000))], status="unpaid"), tenant_currency="USD")
    assert unpaid.term_status == "past_due"
    paused = subscription_snapshot(sub([item(price(1000))], status="paused"), tenant_currency="USD")
    assert paused.ended and paused.term_status is None


def test_company_domain_comes_from_the_email_unless_it_is_a_mailbox_provider() -> None:
    work = customer_fields({"id": "cus_1", "email": "a@Acme.Example"}, tenant_currency="USD")
    assert (work.name, work.domain) == ("a@Acme.Example", "acme.example")
    personal = customer_fields({"id": "cus_1", "email": "a@outlook.com"}, tenant_currency="USD")
    assert personal.domain == ""


def test_the_invoice_subscription_is_found_in_old_and_new_api_versions() -> None:
    assert invoice_subscription_id({"subscription": "sub_old"}) == "sub_old"
    new = {"parent": {"subscription_details": {"subscription": "sub_new"}}}
    assert invoice_subscription_id(new) == "sub_new"
    assert invoice_subscription_id({"parent": None}) is None
