"""Segment HTTP tracking API messages -> Fullfield's shapes, with per-message field errors.

Segment's spec (segment.com/docs/connections/sources/catalog/libraries/server/http-api/):
identify names a user (-> a contact), group names a company (-> an account), track/page/screen
record what a user did (-> usage events). Fields are camelCase; ids may be strings or numbers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import msgspec
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator

from apps.accounts.services.rules import contains_nul
from apps.integrations.ingest.validation import FUTURE_TOLERANCE, AwareDatetime

SOURCE_SYSTEM: Final = "segment"
EVENT_TYPES: Final = frozenset({"track", "page", "screen"})
TYPES: Final = frozenset({"identify", "group", *EVENT_TYPES})
_MAX_ID: Final = 200
# Traits become JSON attributes; deeper nesting is refused before any encoder meets it.
MAX_NESTING: Final = 32
_INT_MIN: Final = -(2**63)
_UINT_MAX: Final = 2**64 - 1
_EXAMPLE: Final = "e.g. 2024-05-01T12:00:00Z"
_NOT_HASHED: Final = frozenset({"sentAt", "receivedAt", "writeKey"})
_hash_encoder = msgspec.json.Encoder(order="sorted")
_email_validator = EmailValidator()

Problems = list[tuple[str, str]]


class SegmentEvent(msgspec.Struct):
    """A track/page/screen call as a usage event (see ingest.services.IngestEvent)."""

    id: str
    account_external_id: str | None
    contact_external_id: str | None
    name: str
    occurred_at: datetime
    value: float
    properties: dict[str, Any]


@dataclass
class IdentifyCall:
    position: int
    user_id: str
    account_external_id: str | None
    company_name: str | None
    contact: dict[str, str] = field(default_factory=dict)


@dataclass
class GroupCall:
    position: int
    group_id: str
    user_id: str | None
    account: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)


Call = SegmentEvent | IdentifyCall | GroupCall


def message_read(
    raw: Any, *, position: int, kind: str | None, shared_context: dict[str, Any], now: datetime
) -> tuple[Call | None, Problems]:
    """One message: the call it makes, or None and every (field, problem) in it.

    `kind` is the endpoint's type (track, identify...) or None for a batch, where each
    message names its own `type`.
    """
    if not isinstance(raw, dict):
        return None, [("", "Each message must be a JSON object.")]
    problems: Problems = []
    message_type = kind or raw.get("type")
    if message_type == "alias":
        return None, [("type", "alias is not supported: contacts are matched by userId.")]
    if not isinstance(message_type, str) or message_type not in TYPES:
        return None, [("type", f"Must be one of {', '.join(sorted(TYPES))}.")]

    context = raw.get("context", {})
    if not isinstance(context, dict):
        problems.append(("context", "Must be an object."))
        context = {}
    context = {**shared_context, **context}
    user_id = _optional_id(raw, "userId", problems)
    occurred_at = _timestamp(raw, problems, now=now)

    if message_type == "identify":
        return _identify(raw, position, user_id, context, problems)
    if message_type == "group":
        return _group(raw, position, user_id, problems)
    return _event(raw, message_type, user_id, occurred_at, context, problems)


def _identify(
    raw: dict[str, Any],
    position: int,
    user_id: str | None,
    context: dict[str, Any],
    problems: Problems,
) -> tuple[Call | None, Problems]:
    traits = _object(raw, "traits", problems)
    if contains_nul(traits):
        problems.append(("traits", "Must not contain NUL (\\u0000) characters."))
    if user_id is None and not any(name == "userId" for name, _ in problems):
        problems.append(("userId", "identify needs a userId: contacts are matched by it."))
    company = traits.get("company")
    company_id = None
    company_name = None
    if isinstance(company, dict):
        company_id = _id_value(company.get("id"), "traits.company.id", problems)
        name = company.get("name")
        if isinstance(name, str) and len(name) > 200:
            problems.append(("traits.company.name", "At most 200 characters."))
        elif isinstance(name, str) and name.strip():
            company_name = name.strip()
    account = _id_value(context.get("groupId"), "context.groupId", problems) or company_id
    contact: dict[str, str] = {}
    email = traits.get("email")
    if email is not None:
        if not isinstance(email, str) or not _is_email(email):
            problems.append(("traits.email", "Must be a valid email address."))
        else:
            contact["email"] = email.strip().lower()
    name = traits.get("name")
    if name is None and (traits.get("firstName") or traits.get("lastName")):
        name = " ".join(
            str(part).strip() for part in (traits.get("firstName"), traits.get("lastName")) if part
        )
    for key, value, limit in (("name", name, 200), ("title", traits.get("title"), 200)):
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > limit:
            problems.append((f"traits.{key}", f"Must be a string of at most {limit} characters."))
        else:
            contact[key] = value.strip()
    if problems or user_id is None:
        return None, problems
    return IdentifyCall(position, user_id, account, company_name, contact), []


_ACCOUNT_TRAITS: Final = {"name": 200, "industry": 100}


def _group(
    raw: dict[str, Any], position: int, user_id: str | None, problems: Problems
) -> tuple[Call | None, Problems]:
    traits = _object(raw, "traits", problems)
    if contains_nul(traits):
        problems.append(("traits", "Must not contain NUL (\\u0000) characters."))
    if "groupId" not in raw or raw["groupId"] is None:
        problems.append(("groupId", "group needs a groupId: accounts are matched by it."))
        group_id = None
    else:
        group_id = _id_value(raw["groupId"], "groupId", problems)
    account: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for key, value in traits.items():
        if key in _ACCOUNT_TRAITS:
            limit = _ACCOUNT_TRAITS[key]
            if not isinstance(value, str) or not value.strip() or len(value) > limit:
                problems.append(
                    (f"traits.{key}", f"Must be a non-empty string of at most {limit} characters.")
                )
            else:
                account[key] = value.strip()
        elif key in {"website", "domain"} and isinstance(value, str) and value.strip():
            account["domain"] = _domain(value)
        else:
            attributes[key] = value
    if problems or group_id is None:
        return None, problems
    return GroupCall(position, group_id, user_id, account, attributes), []


def _event(
    raw: dict[str, Any],
    message_type: str,
    user_id: str | None,
    occurred_at: datetime | None,
    context: dict[str, Any],
    problems: Problems,
) -> tuple[Call | None, Problems]:
    properties = _object(raw, "properties", problems)
    if message_type == "track":
        name = raw.get("event")
        if not isinstance(name, str) or not name.strip():
            problems.append(("event", "track needs an event name."))
    else:
        title = " ".join(
            part.strip()
            for part in (raw.get("category"), raw.get("name"))
            if isinstance(part, str) and part.strip()
        )
        noun = "Page" if message_type == "page" else "Screen"
        name = f"Viewed {title} {noun}" if title else f"Loaded a {noun}"
        properties = {
            **properties,
            **{key: raw[key] for key in ("name", "category") if raw.get(key) is not None},
        }
    if isinstance(name, str) and (len(name) > 200 or contains_nul(name)):
        problems.append(
            (
                "event" if message_type == "track" else "name",
                "At most 200 characters, without NUL.",
            )
        )
    if context.get("groupId") is not None:
        account = _id_value(context["groupId"], "context.groupId", problems)
    else:
        account = _id_value(properties.get("groupId"), "properties.groupId", problems)
    message_id = _message_id(raw, problems)
    value = properties.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or abs(value) == float("inf"):
        value = 1.0
    if user_id is None and account is None and not problems:
        problems.append(
            (
                "context.groupId",
                "The account could not be determined: send context.groupId (or "
                "properties.groupId), or a userId already linked to an account.",
            )
        )
    if contains_nul(properties):
        problems.append(("properties", "Must not contain NUL (\\u0000) characters."))
    if problems or occurred_at is None or not isinstance(name, str) or message_id is None:
        return None, problems
    return (
        SegmentEvent(
            id=message_id,
            account_external_id=account,
            contact_external_id=user_id,
            name=name.strip(),
            occurred_at=occurred_at,
            value=float(value),
            properties=properties,
        ),
        [],
    )


def _message_id(raw: dict[str, Any], problems: Problems) -> str | None:
    if raw.get("messageId") is None:
        # Without an id, the message's content is its identity, so a resend still dedups.
        content = {key: value for key, value in raw.items() if key not in _NOT_HASHED}
        return "sha256:" + hashlib.sha256(_hash_encoder.encode(content)).hexdigest()
    return _id_value(raw["messageId"], "messageId", problems)


def _timestamp(raw: dict[str, Any], problems: Problems, *, now: datetime) -> datetime | None:
    for key in ("timestamp", "originalTimestamp"):
        value = raw.get(key)
        if value is None:
            continue
        try:
            moment = msgspec.convert(value, AwareDatetime)
        except msgspec.ValidationError:
            problems.append(
                (
                    key,
                    f"Must be an ISO 8601 date-time with a timezone offset, {_EXAMPLE}.",
                )
            )
            return None
        if moment > now + FUTURE_TOLERANCE:
            problems.append((key, "Is more than 1 hour in the future."))
            return None
        return moment
    return now


def _optional_id(raw: dict[str, Any], key: str, problems: Problems) -> str | None:
    return _id_value(raw.get(key), key, problems)


def _id_value(value: Any, name: str, problems: Problems) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        problems.append((name, "Must be a string or an integer."))
        return None
    text = str(value).strip()
    if not text or len(text) > _MAX_ID or contains_nul(text):
        problems.append((name, f"Must be non-empty, at most {_MAX_ID} characters, without NUL."))
        return None
    return text


def _object(raw: dict[str, Any], key: str, problems: Problems) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append((key, "Must be an object."))
        return {}
    shape_problem = _shape_problem(value)
    if shape_problem:
        problems.append((key, shape_problem))
        return {}
    return value


def _is_email(value: str) -> bool:
    try:
        _email_validator(value.strip())
    except DjangoValidationError:
        return False
    return len(value.strip()) <= 254


def _domain(value: str) -> str:
    host = value.strip().lower().split("://", 1)[-1].split("/", 1)[0]
    return host.removeprefix("www.")[:253]


def _shape_problem(value: Any) -> str | None:
    """Why a JSON value cannot be kept as is: too deeply nested, or an integer beyond 64 bits."""
    level: list[Any] = [value]
    for _ in range(MAX_NESTING + 1):
        children: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                children.extend(item.values())
            elif isinstance(item, list):
                children.extend(item)
            elif isinstance(item, int) and not _INT_MIN <= item <= _UINT_MAX:
                return "Holds an integer beyond 64 bits; send it as a string."
        if not children:
            return None
        level = children
    return f"Is nested more than {MAX_NESTING} levels deep."
