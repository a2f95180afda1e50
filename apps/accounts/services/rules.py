"""Invariants of the account records, checked on a record's values before anything is written.

The database constraints in models.py stay as the backstop; these checks exist so that a bad
request gets a field error naming what is wrong instead of an integrity error. The single-record
services (`record_errors`) and the bulk upsert both call them with the record's merged values
(what the row would hold after the write), so a partial update is checked against the stored
row. The REST serializers only parse fields: every rule and every query is here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import msgspec
from django.db import models
from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts import selectors
from apps.accounts.models import (
    Account,
    Contact,
    Lead,
    Milestone,
    OnboardingPlan,
    Opportunity,
    Subscription,
    SurveyResponse,
    Ticket,
    Touchpoint,
    UsageEvent,
)
from fullfield.errors import INVALID_FIELDS, DomainError
from fullfield.tenancy.context import current_schema, current_tenant
from fullfield.tenancy.models import Tenant
from fullfield.users.models import User

FieldErrors = dict[str, list[str]]


def contains_nul(value: Any) -> bool:
    """Whether a text or JSON value holds U+0000, which PostgreSQL text and jsonb cannot store.

    The one NUL check of every write path: such input is refused by field, never a 500.
    May raise RecursionError for JSON nested too deeply to encode.
    """
    if isinstance(value, str):
        return "\x00" in value
    return b"\\u0000" in msgspec.json.encode(value)


def lead_converted_at(status: str, converted_at: datetime | None) -> datetime | None:
    """A lead marked converted without a time was converted now (single and bulk writes)."""
    if status == "converted" and not converted_at:
        return timezone.now()
    return converted_at


def assignable_users() -> QuerySet[User]:
    """Who may own an account or author a touchpoint (single writes and bulk alike)."""
    return User.objects.filter(is_active=True)


def add_error(errors: FieldErrors, field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def tenant_currency() -> str:
    """The request's tenant's currency: all money of the tenant is in it."""
    currency = getattr(current_tenant(), "currency", None)
    if currency is None:
        # schema_context() installs a stand-in tenant that has only the schema name.
        currency = (
            Tenant.objects.filter(schema_name=current_schema())
            .values_list("currency", flat=True)
            .first()
        )
    if currency is None:
        raise LookupError(f"no tenant owns the schema {current_schema()!r}")
    return str(currency)


def check_currency(values: Mapping[str, Any], errors: FieldErrors) -> None:
    """Money is kept in the tenant's currency; another currency is refused, never converted."""
    currency = values.get("currency")
    expected = tenant_currency()
    if currency is not None and currency != expected:
        add_error(
            errors,
            "currency",
            f"Only {expected}, this workspace's currency, is accepted; "
            f"amounts in {currency} are not converted.",
        )


def _not_before(
    values: Mapping[str, Any], errors: FieldErrors, later: str, earlier: str, *, strict: bool
) -> None:
    end: date | datetime | None = values.get(later)
    start: date | datetime | None = values.get(earlier)
    if end is None or start is None:
        return
    if (strict and end <= start) or (not strict and end < start):
        relation = "after" if strict else "on or after"
        add_error(errors, later, f"Must be {relation} {earlier} ({start.isoformat()}).")


def _not_negative(values: Mapping[str, Any], errors: FieldErrors, field: str) -> None:
    amount: Decimal | int | float | None = values.get(field)
    if amount is not None and amount < 0:
        add_error(errors, field, "Must not be negative.")


def account_check(values: Mapping[str, Any]) -> FieldErrors:
    errors: FieldErrors = {}
    check_currency(values, errors)
    record_id = values.get("id")
    if record_id is not None and values.get("parent_id") == record_id:
        add_error(errors, "parent", "An account cannot be its own parent.")
    return errors


def lead_check(values: Mapping[str, Any]) -> FieldErrors:
    errors: FieldErrors = {}
    if values.get("status") == "converted" and values.get("converted_account_id") is None:
        add_error(errors, "converted_account", "A converted lead must name the account it became.")
    return errors


def opportunity_check(values: Mapping[str, Any]) -> FieldErrors:
    errors: FieldErrors = {}
    check_currency(values, errors)
    _not_negative(values, errors, "amount")
    if values.get("loss_reason") and values.get("status") != "lost":
        add_error(errors, "loss_reason", "Only a lost opportunity has a loss reason.")
    return errors


def onboarding_plan_check(values: Mapping[str, Any]) -> FieldErrors:
    errors: FieldErrors = {}
    _not_before(values, errors, "completed_on", "started_on", strict=False)
    _not_before(values, errors, "target_live_on", "started_on", strict=False)
    return errors


def subscription_check(values: Mapping[str, Any]) -> FieldErrors:
    errors: FieldErrors = {}
    check_currency(values, errors)
    _not_negative(values, errors, "mrr")
    _not_before(values, errors, "period_end", "period_start", strict=True)
    return errors


def ticket_check(values: Mapping[str, Any]) -> FieldErrors:
    errors: FieldErrors = {}
    _not_before(values, errors, "first_response_at", "opened_at", strict=False)
    _not_before(values, errors, "closed_at", "opened_at", strict=False)
    return errors


def survey_response_check(values: Mapping[str, Any]) -> FieldErrors:
    errors: FieldErrors = {}
    kind = values.get("kind")
    score = values.get("score")
    if not isinstance(kind, str) or score is None:
        return errors
    score_range = SurveyResponse.SCORE_RANGES.get(kind)
    if score_range is not None:
        low, high = score_range
        if not low <= score <= high:
            add_error(
                errors, "score", f"A {kind.upper()} score is from {low} to {high}; got {score}."
            )
    return errors


Check = Callable[[Mapping[str, Any]], FieldErrors]


def _no_check(values: Mapping[str, Any]) -> FieldErrors:
    return {}


# The invariants of each record kind, declared once: the single-record services (the REST API)
# and the bulk upsert (and through it Segment and CSV import) both look them up here.
RECORD_CHECKS: dict[type[models.Model], Check] = {
    Account: account_check,
    Contact: _no_check,
    Lead: lead_check,
    Opportunity: opportunity_check,
    OnboardingPlan: onboarding_plan_check,
    Milestone: _no_check,
    Subscription: subscription_check,
    UsageEvent: _no_check,
    Ticket: ticket_check,
    SurveyResponse: survey_response_check,
    Touchpoint: _no_check,
}


def record_check(model: type[models.Model], values: Mapping[str, Any]) -> FieldErrors:
    """The invariants `values` (the record as it would be stored) break, by field."""
    return RECORD_CHECKS.get(model, _no_check)(values)


# --- single writes (the REST API, squads): the checks bulk makes on a whole batch -------------


def merged_values(
    model: type[models.Model], instance: models.Model | None, data: Mapping[str, Any]
) -> dict[str, Any]:
    """The row's values after this write: the stored row (or the defaults), overlaid with data.

    Each foreign key is given under both its name and its column (`account`, `account_id`)."""
    values: dict[str, Any] = {}
    for field in model._meta.concrete_fields:
        if instance is not None:
            value = getattr(instance, field.attname)
        elif field.has_default():
            value = field.get_default()
        else:
            continue
        values[field.attname] = value
        if field.attname != field.name:
            values[field.name] = value
    for name, value in data.items():
        if isinstance(value, models.Model):
            values[name] = value.pk
            values[f"{name}_id"] = value.pk
        else:
            values[name] = value
    return values


def _field_names(model: type[models.Model]) -> frozenset[str]:
    return frozenset(field.name for field in model._meta.concrete_fields)


def _check_external_id(
    model: type[models.Model],
    instance: models.Model | None,
    values: Mapping[str, Any],
    errors: FieldErrors,
) -> None:
    """(source_system, external_id) names one record; bulk upserts match items by it."""
    external_id = values.get("external_id")
    if not external_id:
        return
    others = model._default_manager.filter(
        source_system=values.get("source_system") or "api", external_id=external_id
    )
    if instance is not None:
        others = others.exclude(pk=instance.pk)
    other_id = others.values_list("pk", flat=True).first()
    if other_id is not None:
        add_error(
            errors,
            "external_id",
            f"Record {other_id} already has this external_id in this source_system.",
        )


def _check_contact_account(
    data: Mapping[str, Any], values: Mapping[str, Any], errors: FieldErrors
) -> None:
    """A record's contact must be one of the record's account's contacts."""
    if not {"contact", "contact_id", "account", "account_id"} & set(data):
        return
    contact = data.get("contact")
    if isinstance(contact, Contact):
        contact_account_id: int | None = contact.account_id
    elif values.get("contact_id") is not None:
        contact_account_id = (
            Contact.objects.filter(pk=values["contact_id"])
            .values_list("account_id", flat=True)
            .first()
        )
    else:
        return
    if contact_account_id is not None and contact_account_id != values.get("account_id"):
        add_error(errors, "contact", "This contact belongs to another account.")


def _check_parent_loop(
    instance: models.Model | None, values: Mapping[str, Any], errors: FieldErrors
) -> None:
    parent_id = values.get("parent_id")
    if parent_id is None or instance is None or instance.pk is None:
        return
    if instance.pk in selectors.account_ancestor_ids(account_id=parent_id):
        # The one message for a loop, whether the parent is the account itself or below it.
        errors["parent"] = ["This parent would make the account its own ancestor."]


def record_errors(
    *, model: type[models.Model], instance: models.Model | None, data: dict[str, Any]
) -> FieldErrors:
    """Everything a single write of `data` (onto `instance`, or a new record) breaks, by field.

    A new record without a currency gets the tenant's (set in `data`); only money the write
    sends is held to the tenant's currency.
    """
    names = _field_names(model)
    if "currency" in names and instance is None and "currency" not in data:
        data["currency"] = tenant_currency()
    values = merged_values(model, instance, data)
    if "currency" in names and "currency" not in data:
        values.pop("currency", None)
    errors = record_check(model, values)
    if "external_id" in names:
        _check_external_id(model, instance, values, errors)
    if "contact" in names:
        _check_contact_account(data, values, errors)
    if model is Account and {"parent", "parent_id"} & set(data):
        _check_parent_loop(instance, values, errors)
    return errors


def record_checked(
    *, model: type[models.Model], instance: models.Model | None, data: Mapping[str, Any]
) -> dict[str, Any]:
    """`data` with the defaults the rules set, or a 400 naming every field a rule refuses."""
    checked = dict(data)
    errors = record_errors(model=model, instance=instance, data=checked)
    if errors:
        raise DomainError(INVALID_FIELDS, fields=errors)
    return checked
