"""Decoding and validating a batch of usage events.

Fast path: the whole body is decoded straight into typed msgspec Structs, which both parses
and validates in C (measured on a 10,000-event, 2.3 MB batch: 14 ms, vs 25 ms for orjson plus
hand checks). The free-form `properties` are typed too, as values nested at most
FAST_PROPERTY_DEPTH levels whose integers fit in int64, so the limits on nesting and integer
range cost no pass of their own over a body that keeps well within them. Whenever that
decoding fails (a wrong field, or properties deeper or with larger integers than the fast type
allows), the item-by-item path runs: it applies the exact limits (JSON_MAX_DEPTH levels,
integers up to 2^64 - 1) and reports every problem of every event by position and field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import GenericAlias
from typing import TYPE_CHECKING, Annotated, Any, Final, TypeAlias, Union

import msgspec

from apps.accounts.services.rules import contains_nul
from apps.accounts.services.usage import EventError
from apps.integrations.ingest.request_body import PayloadTooLarge
from fullfield.api.parsers import json_decode, json_value_problem
from fullfield.errors import DomainError

MAX_EVENTS: Final = 10_000
FUTURE_TOLERANCE: Final = timedelta(hours=1)
DEFAULT_SOURCE_SYSTEM: Final = "api"

ExternalId = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
EventName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
SourceSystem = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]


class EventIn(msgspec.Struct, forbid_unknown_fields=True):
    """One usage event as an integrator sends it."""

    id: ExternalId
    account_external_id: ExternalId
    name: EventName
    occurred_at: AwareDatetime
    contact_external_id: ExternalId | None = None
    value: float = 1.0
    properties: dict[str, Any] = msgspec.field(default_factory=dict)


# Levels of arrays and objects an event's properties span (the properties object itself
# included) that the fast path's type allows. The type is built level by level and its size
# doubles with each, so it stays small; deeper properties (up to JSON_MAX_DEPTH levels) are
# still accepted, by the item-by-item path.
FAST_PROPERTY_DEPTH: Final = 8
_Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


def _nested_value_type(levels: int) -> Any:
    """A JSON value (integers within int64) with at most `levels` arrays/objects inside it."""
    scalar: Any = Union[_Int64, float, str, bool, None]  # noqa: UP007  (a value, not a hint)
    value: Any = scalar
    for _ in range(levels):
        value = scalar | GenericAlias(list, (value,)) | GenericAlias(dict, (str, value))
    return value


if TYPE_CHECKING:
    _PropertyValue: TypeAlias = Any
else:
    _PropertyValue = _nested_value_type(FAST_PROPERTY_DEPTH - 1)


class _CheckedEventIn(EventIn, forbid_unknown_fields=True):
    """EventIn whose properties' depth and integers the decoder itself bounds (fast path)."""

    properties: dict[str, _PropertyValue] = msgspec.field(default_factory=dict)


class BatchIn(msgspec.Struct, forbid_unknown_fields=True):
    events: list[_CheckedEventIn]
    source_system: SourceSystem = DEFAULT_SOURCE_SYSTEM


# One error shape for an event, whether validation here or the accounts writer refused it.
IngestError = EventError


@dataclass
class DecodedBatch:
    """The valid events (with their positions in the request) and the errors of the rest."""

    source_system: str
    total: int
    events: Sequence[EventIn]
    positions: Sequence[int]
    errors: list[IngestError] = field(default_factory=list)


_batch_decoder = msgspec.json.Decoder(BatchIn)

_FIELD_TYPES: Final[dict[str, Any]] = {
    "id": ExternalId,
    "account_external_id": ExternalId,
    "contact_external_id": ExternalId | None,
    "name": EventName,
    "occurred_at": AwareDatetime,
    "value": float,
    "properties": dict[str, Any],
}
_REQUIRED: Final = ("id", "account_external_id", "name", "occurred_at")
_TEXT_FIELDS: Final = ("id", "account_external_id", "contact_external_id", "name")
_EXAMPLE_TIME: Final = "2024-05-01T12:00:00Z"
_FIELD_MESSAGES: Final = {
    "id": "Must be a non-empty string of at most 200 characters (the event's unique id).",
    "account_external_id": (
        "Must be a non-empty string of at most 200 characters (the account's id in your system)."
    ),
    "contact_external_id": "Must be null or a non-empty string of at most 200 characters.",
    "name": "Must be a non-empty string of at most 200 characters.",
    "occurred_at": (f"Must be an ISO 8601 date-time with a timezone offset, e.g. {_EXAMPLE_TIME}."),
    "value": "Must be a number.",
    "properties": "Must be a JSON object.",
}


def json_document(body: bytes) -> Any:
    """The body as plain Python values; DomainError (400) saying why when it is not JSON.

    Nesting and integer range are checked per item by the callers, so that one bad event or
    message is refused alone.
    """
    return json_decode(body, check_values=False)


def batch_decode(body: bytes, *, now: datetime) -> DecodedBatch:
    """Decode `{"events": [...], "source_system"?}`; per-event problems become indexed errors.

    Raises DomainError (400) when the body as a whole is unusable and PayloadTooLarge (413)
    beyond MAX_EVENTS events.
    """
    latest = now + FUTURE_TOLERANCE
    # JSON can only carry a NUL character as the escape \u0000, which PostgreSQL refuses in
    # text and jsonb; bodies containing it go the careful way (one scan of the raw bytes, so
    # the fast path needs no per-field check). Deep nesting and large integers make the typed
    # decoding fail, and go the careful way too.
    if b"\\u0000" not in body:
        try:
            batch = _batch_decoder.decode(body)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError, UnicodeDecodeError):
            pass  # the careful way below says what is wrong
        else:
            _check_count(len(batch.events))
            if all(event.occurred_at <= latest for event in batch.events):
                if not batch.events:
                    raise _no_events()
                count = len(batch.events)
                return DecodedBatch(batch.source_system, count, batch.events, range(count))
    return _decode_item_by_item(body, latest=latest)


def _check_count(count: int) -> None:
    if count > MAX_EVENTS:
        raise PayloadTooLarge(
            f"The batch has {count:,} events; the limit is {MAX_EVENTS:,} events a request. "
            "Split it into smaller batches."
        )


def _no_events() -> DomainError:
    return DomainError("The batch has no events.", fields={"events": ["Send at least one event."]})


# Far more than 10,000 events need (a few objects each), and a bound on what parsing a body
# for per-event errors may build: 5 MB of `{},` is 1.7 million dicts, over 100 MB.
MAX_CONTAINERS: Final = 20 * MAX_EVENTS


def _decode_item_by_item(body: bytes, *, latest: datetime) -> DecodedBatch:
    if body.count(b"{") + body.count(b"[") > MAX_CONTAINERS:
        raise PayloadTooLarge(
            f"The batch holds more than {MAX_CONTAINERS:,} JSON objects and arrays; a batch "
            f"carries at most {MAX_EVENTS:,} events. Split it into smaller batches."
        )
    document = json_document(body)
    if not isinstance(document, dict):
        raise DomainError('The body must be a JSON object: {"events": [...]}.')
    fields: dict[str, list[str]] = {
        key: ["Unknown field; expected events and source_system."]
        for key in sorted(document.keys() - {"events", "source_system"})
    }
    source_system = document.get("source_system", DEFAULT_SOURCE_SYSTEM)
    try:
        source_system = msgspec.convert(source_system, SourceSystem)
        _check_text(source_system)
    except (msgspec.ValidationError, ValueError):
        fields["source_system"] = ["Must be a non-empty string of at most 40 characters."]
    events = document.get("events")
    if not isinstance(events, list):
        fields["events"] = ["Required: a list of event objects."]
    if fields:
        raise DomainError("The batch could not be read.", fields=fields)
    assert isinstance(events, list)
    _check_count(len(events))
    if not events:
        raise _no_events()

    valid: list[EventIn] = []
    positions: list[int] = []
    errors: list[IngestError] = []
    for index, raw in enumerate(events):
        event, problems = event_validate(raw, latest=latest)
        if event is None:
            errors.extend(
                IngestError(index=index, field=name, message=message) for name, message in problems
            )
        else:
            valid.append(event)
            positions.append(index)
    return DecodedBatch(source_system, len(events), valid, positions, errors)


def event_validate(raw: Any, *, latest: datetime) -> tuple[EventIn | None, list[tuple[str, str]]]:
    """One event: the EventIn, or None and every (field, message) that is wrong with it."""
    if not isinstance(raw, dict):
        return None, [("", "Each event must be a JSON object.")]
    problems = [
        (str(key), "Unknown field.") for key in sorted(map(str, raw.keys() - _FIELD_TYPES.keys()))
    ]
    values: dict[str, Any] = {}
    for name, field_type in _FIELD_TYPES.items():
        if name not in raw:
            if name in _REQUIRED:
                problems.append((name, "This field is required."))
            continue
        try:
            values[name] = msgspec.convert(raw[name], field_type)
        except msgspec.ValidationError as error:
            problems.append((name, _field_message(name, raw[name], error)))
        except RecursionError:
            problems.append((name, "Is nested too deeply."))
    for name in _TEXT_FIELDS:
        value = values.get(name)
        if isinstance(value, str) and contains_nul(value):
            problems.append((name, "Must not contain NUL (\\u0000) characters."))
    try:
        if "properties" in values and contains_nul(values["properties"]):
            problems.append(("properties", "Must not contain NUL (\\u0000) characters."))
    except RecursionError:
        problems.append(("properties", "Is nested too deeply."))
    value_problem = json_value_problem(values.get("properties"))
    if value_problem is not None:
        problems.append(("properties", value_problem[1]))
    occurred_at = values.get("occurred_at")
    if occurred_at is not None and occurred_at > latest:
        problems.append(
            (
                "occurred_at",
                f"Is more than {_describe(FUTURE_TOLERANCE)} in the future "
                f"({occurred_at.isoformat()}); send the time the event happened.",
            )
        )
    if problems:
        return None, problems
    return EventIn(**values), []


def _field_message(name: str, value: Any, error: msgspec.ValidationError) -> str:
    if name == "occurred_at" and isinstance(value, str):
        try:
            msgspec.convert(value, datetime)
        except msgspec.ValidationError:
            pass
        else:
            return f"Needs a timezone offset, e.g. {_EXAMPLE_TIME} or 2024-05-01T14:00:00+02:00."
    if name == "value" and "out of range" in str(error):
        return "Must be a finite number."
    return _FIELD_MESSAGES[name]


def _check_text(value: str) -> None:
    if contains_nul(value):
        raise ValueError("NUL character")


def _describe(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours} hour" if hours == 1 else f"{hours} hours"
