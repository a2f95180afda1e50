"""Which columns of a CSV file feed which fields of an import, checked before any row is read.

The mapping is {our field: "their column header"}. Without one, a column is read when its
header is one of our field names, and any other header is an error (a typo must not be
dropped silently). With one, the mapped columns are read, columns named like our fields fill
the fields the mapping leaves out, and every other column is ignored and listed in the job.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from apps.accounts.services import bulk_item_fields
from fullfield.errors import DomainError

RECORD_ENTITIES: Final = ("accounts", "contacts", "leads", "opportunities", "subscriptions")
ENTITIES: Final = (*RECORD_ENTITIES, "events")

EVENT_FIELDS: Final = (
    "id",
    "account_external_id",
    "contact_external_id",
    "name",
    "occurred_at",
    "value",
    "properties",
)
EVENT_REQUIRED: Final = ("id", "account_external_id", "name", "occurred_at")
# Cells holding a JSON object rather than a plain value.
JSON_FIELDS: Final = frozenset({"attributes", "properties"})

_LIKELY_DELIMITERS: Final = (";", "\t", "|")


def entity_fields(entity: str) -> tuple[str, ...]:
    """The fields a file of `entity` may fill, in a stable order (key fields first)."""
    if entity == "events":
        return EVENT_FIELDS
    return bulk_item_fields(entity)


def required_fields(entity: str) -> tuple[str, ...]:
    """Columns every file of `entity` must have. Records are matched by external id; fields
    needed only to create a record are checked per row, so a file may update existing ones."""
    return EVENT_REQUIRED if entity == "events" else ("external_id",)


@dataclass(frozen=True)
class ColumnPlan:
    entity: str
    header: tuple[str, ...]
    # our field -> (position in a row, the file's header for it)
    columns: dict[str, tuple[int, str]]
    ignored: tuple[str, ...]

    def header_of(self, field: str) -> str | None:
        column = self.columns.get(field)
        return column[1] if column else None

    def describe(self) -> dict[str, str]:
        return {field: header for field, (_, header) in self.columns.items()}


def column_plan(
    *, entity: str, header: Sequence[str], mapping: Mapping[str, str] | None
) -> ColumnPlan:
    """Match the file's header to our fields; DomainError naming every problem otherwise."""
    if entity not in ENTITIES:
        raise DomainError(
            f"Unknown entity {entity!r}.",
            fields={"entity": [f"Choose one of {', '.join(ENTITIES)}."]},
        )
    fields = entity_fields(entity)
    known = frozenset(fields)
    names = tuple(cell.strip() for cell in header)
    problems: dict[str, list[str]] = {}

    def problem(key: str, message: str) -> None:
        problems.setdefault(key, []).append(message)

    counts = Counter(names)
    columns: dict[str, tuple[int, str]] = {}
    for field, wanted in (mapping or {}).items():
        if field not in known:
            problem(
                "mapping",
                f"Unknown field {field!r} for {entity}; the fields are: {', '.join(fields)}.",
            )
        elif wanted.strip() not in counts or not wanted.strip():
            problem(
                "mapping",
                f"{wanted!r} (mapped to {field}) is not a column of the file; its columns "
                f"are: {', '.join(repr(name) for name in names)}.",
            )
        else:
            columns[field] = (names.index(wanted.strip()), wanted.strip())

    mapped_headers = {header for _, header in columns.values()}
    ignored: list[str] = []
    for position, name in enumerate(names):
        if name in mapped_headers:
            continue
        if name in known and name not in columns:
            columns[name] = (position, name)
        elif mapping is not None:
            ignored.append(name or f"(column {position + 1}, unnamed)")
        elif not name:
            problem("file", f"Column {position + 1} of the header has no name.")
        elif name not in known:
            problem("file", _unknown_column(name, entity, fields))

    # A name used twice is ambiguous only where it is read.
    read = {header for _, header in columns.values()}
    for name, count in counts.items():
        if count > 1 and name in read:
            problem("file", f"The header names the column {name!r} {count} times.")

    for field in required_fields(entity):
        if field not in columns:
            problem(
                "file",
                f"A column for {field} is required: name a column {field!r} or map one to it.",
            )
    if problems:
        raise DomainError(f"The file's columns do not fit an import of {entity}.", fields=problems)
    ordered = {field: columns[field] for field in fields if field in columns}
    return ColumnPlan(entity=entity, header=names, columns=ordered, ignored=tuple(ignored))


def _unknown_column(name: str, entity: str, fields: Sequence[str]) -> str:
    message = (
        f"Unknown column {name!r} for {entity}. Name the columns as the fields "
        f"({', '.join(fields)}), or send a mapping of the columns to read."
    )
    for delimiter in _LIKELY_DELIMITERS:
        if delimiter in name:
            shown = "a tab" if delimiter == "\t" else repr(delimiter)
            return f"{message} The file seems to separate columns with {shown}: use commas."
    return message
