"""Value parsers for bulk items, built from the model fields: one per column, raising Invalid."""

from __future__ import annotations

import dataclasses
import decimal
import math
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator
from django.db import connection, models
from django.utils import timezone

from apps.accounts.services import rules


class Invalid(ValueError):
    """A value that cannot be stored in a field; the message is shown to the caller."""


Parser = Callable[[Any], Any]


# --- value parsers (built from the model fields) -----------------------------------------


def _text(max_length: int | None, *, blank: bool) -> Parser:
    def parse(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise Invalid("Must be a string.")
        text = str(value).strip()
        if rules.contains_nul(text):
            raise Invalid("Null characters are not allowed.")
        if not text and not blank:
            raise Invalid("This field may not be blank.")
        if max_length is not None and len(text) > max_length:
            raise Invalid(f"At most {max_length} characters.")
        return text

    return parse


def _choice(choices: Sequence[str]) -> Parser:
    allowed = frozenset(choices)

    def parse(value: Any) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise Invalid(f"{value!r} is not one of: {', '.join(choices)}.")
        return value

    return parse


_email_validator = EmailValidator()


def _email(max_length: int) -> Parser:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid("Must be a string.")
        email = value.strip()
        if rules.contains_nul(email):
            raise Invalid("Null characters are not allowed.")
        if not email:
            return ""
        if len(email) > max_length:
            raise Invalid(f"At most {max_length} characters.")
        try:
            _email_validator(email)
        except DjangoValidationError:
            raise Invalid("Enter a valid email address.") from None
        return email

    return parse


def _decimal(max_digits: int, places: int) -> Parser:
    def parse(value: Any) -> decimal.Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int | float | decimal.Decimal):
            raise Invalid("Must be a number.")
        try:
            number = decimal.Decimal(str(value).strip())
        except decimal.InvalidOperation:
            raise Invalid("Must be a number.") from None
        if not number.is_finite():
            raise Invalid("Must be a finite number.")
        if number.copy_abs() >= decimal.Decimal(10) ** (max_digits - places):
            raise Invalid(f"At most {max_digits - places} digits before the decimal point.")
        rounded = number.quantize(decimal.Decimal(1).scaleb(-places))
        if rounded != number:
            raise Invalid(f"At most {places} decimal places.")
        return rounded

    return parse


def _integer(minimum: int, maximum: int) -> Parser:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise Invalid("Must be an integer.")
        integral_text = isinstance(value, str) and value.strip().lstrip("-").isdigit()
        if integral_text or (isinstance(value, float) and value.is_integer()):
            value = int(value)
        if not isinstance(value, int):
            raise Invalid("Must be an integer.")
        if not minimum <= value <= maximum:
            raise Invalid(f"Must be from {minimum} to {maximum}.")
        return value

    return parse


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float | decimal.Decimal):
        raise Invalid("Must be a number.")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        raise Invalid("Must be a number.") from None
    if not math.isfinite(number):
        raise Invalid("Must be a finite number.")
    return number


# The spellings DRF's BooleanField accepts, so the REST API kept what it took before.
_TRUE = frozenset({"true", "1", "yes", "t", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "f", "n", "off"})


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise Invalid("Must be true or false.")


def _date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise Invalid("Must be a date, YYYY-MM-DD.")


def _datetime(value: Any) -> datetime:
    moment: datetime | None = value if isinstance(value, datetime) else None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            moment = None
    if moment is None:
        raise Invalid("Must be a date and time, ISO 8601 (e.g. 2025-01-31T09:30:00Z).")
    # Like the API's serializers: a time without an offset is in the server's zone (UTC).
    if not timezone.is_aware(moment):
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise Invalid("Date and time out of range.") from None


def parse_json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid("Must be a JSON object.")
    if rules.contains_nul(value):
        raise Invalid("Null characters are not allowed.")
    return value


_BY_KIND: dict[str, Parser] = {
    "float": _float,
    "boolean": _boolean,
    "datetime": _datetime,
    "date": _date,
    "json_object": parse_json_object,
}


def _nullable(parse: Parser) -> Parser:
    def parse_or_null(value: Any) -> Any:
        return None if value is None else parse(value)

    return parse_or_null


def _not_null(parse: Parser) -> Parser:
    def parse_not_null(value: Any) -> Any:
        if value is None:
            raise Invalid("This field may not be null.")
        return parse(value)

    return parse_not_null


@dataclasses.dataclass(frozen=True)
class FieldRule:
    """What a column accepts, read from its model field: the one declaration of its limits.

    Bulk items are parsed by the parser built from it; the REST serializers are built from the
    same model fields, and a test holds their schema to these rules.
    """

    kind: str
    null: bool
    blank: bool = True
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    max_digits: int | None = None
    decimal_places: int | None = None
    minimum: int | None = None
    maximum: int | None = None


def field_rule(field: models.Field[Any, Any]) -> FieldRule:
    null = bool(field.null)
    if field.choices:
        choices = tuple(str(choice[0]) for choice in field.choices)
        return FieldRule("choice", null, field.blank, choices=choices)
    if isinstance(field, models.EmailField):
        return FieldRule("email", null, field.blank, max_length=field.max_length or 254)
    if isinstance(field, models.CharField | models.TextField):
        return FieldRule("text", null, field.blank, max_length=field.max_length)
    if isinstance(field, models.DecimalField):
        return FieldRule(
            "decimal",
            null,
            max_digits=field.max_digits or 14,
            decimal_places=field.decimal_places or 0,
        )
    if isinstance(field, models.IntegerField):
        # The column's own range, as the database backend states it (and DRF reads it).
        low, high = connection.ops.integer_field_range(field.get_internal_type())
        return FieldRule("integer", null, minimum=low, maximum=high)
    if isinstance(field, models.FloatField):
        return FieldRule("float", null)
    if isinstance(field, models.BooleanField):
        return FieldRule("boolean", null)
    if isinstance(field, models.DateTimeField):
        return FieldRule("datetime", null)
    if isinstance(field, models.DateField):
        return FieldRule("date", null)
    if isinstance(field, models.JSONField):
        return FieldRule("json_object", null)
    raise TypeError(f"no parser for {field!r}")


def parser_from_rule(rule: FieldRule) -> Parser:
    parse: Parser
    if rule.kind == "choice":
        parse = _choice(rule.choices)
    elif rule.kind == "email":
        parse = _email(rule.max_length or 254)
    elif rule.kind == "text":
        parse = _text(rule.max_length, blank=rule.blank)
    elif rule.kind == "decimal":
        parse = _decimal(rule.max_digits or 14, rule.decimal_places or 0)
    elif rule.kind == "integer":
        assert rule.minimum is not None and rule.maximum is not None
        parse = _integer(rule.minimum, rule.maximum)
    else:
        parse = _BY_KIND[rule.kind]
    return _nullable(parse) if rule.null else _not_null(parse)


def parser_for(field: models.Field[Any, Any]) -> Parser:
    return parser_from_rule(field_rule(field))


parse_source_system = _not_null(_text(40, blank=False))
parse_external_id = _not_null(_text(200, blank=False))
parse_record_id = _integer(1, 2**63 - 1)
parse_email = _email(254)
