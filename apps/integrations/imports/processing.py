"""Turning chunks of CSV rows into writes through the services every other ingest path uses.

Records (accounts, contacts, leads, opportunities, subscriptions) go through the bulk upsert
service (apps.accounts.services.records_upsert_many); events through the one event writer
(apps.accounts.services.usage_events_store: COPY into staging and one set-based insert keyed
by the event id, which also keeps the daily usage rollup). This module only converts cells into
the items those services take and maps their per-item errors back to row numbers and column headers.

A cell left empty means "not given": an update keeps the stored value, a new record gets the
field's default (or the row is rejected when the field is required).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import msgspec
import orjson

from apps.accounts.services import FieldNames, records_upsert_many, usage_events_store
from apps.accounts.services.rules import contains_nul
from apps.integrations.imports.columns import JSON_FIELDS, ColumnPlan
from apps.integrations.imports.reading import Row, has_nul
from apps.integrations.ingest.validation import (
    DEFAULT_SOURCE_SYSTEM,
    FUTURE_TOLERANCE,
    EventIn,
    event_validate,
)

_JSON_EXAMPLES: Final = {"attributes": '{"plan": "pro"}', "properties": '{"format": "pdf"}'}


@dataclass(frozen=True)
class Reject:
    row: int
    column: str
    message: str


@dataclass
class ChunkOutcome:
    rows: int = 0
    created: int = 0
    # Records that already existed (updated in place), or events whose id was already stored.
    existing: int = 0
    rejects: list[Reject] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len({reject.row for reject in self.rejects})


class RowProcessor:
    """Converts and writes one chunk of rows; must be called inside a transaction."""

    def __init__(self, plan: ColumnPlan, *, source_system: str | None) -> None:
        self.plan = plan
        self.source_system = source_system
        self.width = len(plan.header)

    def chunk_key(self, cells: list[str]) -> Hashable | None:
        """Rows with the same key must not share a chunk (the later one must see the first)."""
        return None

    def process(self, chunk: Sequence[Row]) -> ChunkOutcome:
        raise NotImplementedError

    def shape_problems(self, cells: list[str]) -> list[tuple[str, str]]:
        """Problems of the row as a whole: its number of cells, characters we cannot store."""
        extra = cells[self.width :]
        if len(cells) < self.width or any(cell.strip() for cell in extra):
            return [("", f"Has {len(cells)} cells; the header has {self.width} columns.")]
        problems = []
        if has_nul(cells):
            for position, cell in enumerate(cells[: self.width]):
                if contains_nul(cell):
                    problems.append(
                        (
                            self.plan.header[position],
                            "Contains a NUL character, which cannot be stored; remove it.",
                        )
                    )
        return problems

    def values(self, cells: list[str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The non-empty cells by our field name; JSON cells decoded."""
        values: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        for name, (position, header) in self.plan.columns.items():
            cell = cells[position].strip()
            if not cell:
                continue
            if name in JSON_FIELDS:
                try:
                    decoded = orjson.loads(cell)
                except orjson.JSONDecodeError:
                    decoded = None
                if not isinstance(decoded, dict):
                    problems.append(
                        (header, f"Must be a JSON object, e.g. {_JSON_EXAMPLES[name]}.")
                    )
                    continue
                if contains_nul(decoded):
                    problems.append((header, "Must not contain NUL (\\u0000) characters."))
                    continue
                values[name] = decoded
            else:
                values[name] = cell
        return values, problems

    def column_for(self, name: str) -> str:
        return self.plan.header_of(name) or ""

    def reject_all(
        self, outcome: ChunkOutcome, row: int, problems: Sequence[tuple[str, str]]
    ) -> None:
        outcome.rejects.extend(Reject(row, column, message) for column, message in problems)


class RecordRows(RowProcessor):
    """Rows of accounts, contacts, leads, opportunities or subscriptions."""

    def __init__(self, plan: ColumnPlan, *, source_system: str | None) -> None:
        super().__init__(plan, source_system=source_system)
        self.entity = plan.entity
        self.key_positions = (
            plan.columns.get("source_system", (None, ""))[0],
            plan.columns["external_id"][0],
        )

    def chunk_key(self, cells: list[str]) -> Hashable | None:
        system_position, id_position = self.key_positions
        if max(id_position, system_position or 0) >= len(cells):
            return None  # rejected for its shape anyway
        system = cells[system_position].strip() if system_position is not None else ""
        return (system or self.source_system or "api", cells[id_position].strip())

    def process(self, chunk: Sequence[Row]) -> ChunkOutcome:
        outcome = ChunkOutcome(rows=len(chunk))
        items: list[dict[str, Any]] = []
        numbers: list[int] = []
        for number, cells in chunk:
            problems = self.shape_problems(cells)
            if problems:
                self.reject_all(outcome, number, problems)
                continue
            item, problems = self.values(cells)
            if problems:
                self.reject_all(outcome, number, problems)
                continue
            if self.source_system and "source_system" not in item:
                item["source_system"] = self.source_system
            items.append(item)
            numbers.append(number)
        if not items:
            return outcome
        for result, number in zip(
            records_upsert_many(entity=self.entity, items=items), numbers, strict=True
        ):
            if result.status == "created":
                outcome.created += 1
            elif result.status == "updated":
                outcome.existing += 1
            else:
                for name, messages in result.errors.items():
                    header = self.plan.header_of(name)
                    for message in messages:
                        if header is not None:
                            outcome.rejects.append(Reject(number, header, message))
                        elif name == "non_field_errors":
                            outcome.rejects.append(Reject(number, "", message))
                        else:
                            # A field the file has no column for (e.g. required to create).
                            outcome.rejects.append(Reject(number, "", f"{name}: {message}"))
        return outcome


class EventRows(RowProcessor):
    """Rows of usage events: the id column is the idempotency key."""

    def __init__(self, plan: ColumnPlan, *, source_system: str | None, now: datetime) -> None:
        super().__init__(plan, source_system=source_system)
        self.latest = now + FUTURE_TOLERANCE
        self.field_names = FieldNames(
            account=self.column_for("account_external_id") or "account_external_id",
            contact=self.column_for("contact_external_id") or "contact_external_id",
        )

    def process(self, chunk: Sequence[Row]) -> ChunkOutcome:
        outcome = ChunkOutcome(rows=len(chunk))
        events: list[EventIn] = []
        numbers: list[int] = []
        for number, cells in chunk:
            problems = self.shape_problems(cells)
            if problems:
                self.reject_all(outcome, number, problems)
                continue
            raw, problems = self.values(cells)
            value = raw.get("value")
            if value is not None:
                try:
                    raw["value"] = float(value)
                except ValueError:
                    problems.append((self.column_for("value"), "Must be a number."))
                else:
                    if not math.isfinite(raw["value"]):
                        problems.append((self.column_for("value"), "Must be a finite number."))
            if problems:
                self.reject_all(outcome, number, problems)
                continue
            event = self._event(raw)
            if event is None:
                _, field_problems = event_validate(raw, latest=self.latest)
                field_problems = field_problems or [("", "Could not be read as an event.")]
                self.reject_all(
                    outcome,
                    number,
                    [(self.column_for(name) or name, message) for name, message in field_problems],
                )
                continue
            events.append(event)
            numbers.append(number)
        if not events:
            return outcome
        ingested = usage_events_store(
            events=events,
            positions=numbers,
            source_system=self.source_system or DEFAULT_SOURCE_SYSTEM,
            field_names=self.field_names,
        )
        outcome.created = ingested.accepted
        # A CSV row whose event id is stored with other content is reported as already stored.
        outcome.existing = ingested.duplicates + len(ingested.conflicts)
        outcome.rejects.extend(
            Reject(error["index"], error["field"], error["message"]) for error in ingested.errors
        )
        return outcome

    def _event(self, raw: dict[str, Any]) -> EventIn | None:
        """The event when the row is valid (one C-level conversion); None to ask for details."""
        try:
            event = msgspec.convert(raw, EventIn)
        except msgspec.ValidationError:
            return None
        return event if event.occurred_at <= self.latest else None
