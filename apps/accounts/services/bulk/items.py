"""One bulk item as it goes through validation and writing, and its result."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from apps.accounts.services import rules

Status = Literal["created", "updated", "error"]
FieldErrors = dict[str, list[str]]
Key = tuple[str, str]
# An account in the hierarchy check: a stored account's id, or the key of a new item.
Node = int | Key


@dataclasses.dataclass(frozen=True)
class ItemResult:
    index: int
    status: Status
    id: int | None
    errors: FieldErrors


@dataclasses.dataclass
class RefValue:
    """A reference as the item gave it: by id, by external key, or explicitly null."""

    field: str  # the item key used, for error messages
    record_id: int | None = None
    key: Key | None = None


@dataclasses.dataclass
class Item:
    index: int
    errors: FieldErrors = dataclasses.field(default_factory=dict)
    key: Key | None = None
    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    references: dict[str, RefValue] = dataclasses.field(default_factory=dict)
    owner: RefValue | None = None
    existing: dict[str, Any] | None = None
    merged: dict[str, Any] = dataclasses.field(default_factory=dict)
    changed: bool = True
    # A parent that is a new item of this request: its id is known only after the insert.
    parent_key_in_batch: Key | None = None
    id: int | None = None
    created: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, field: str, message: str) -> None:
        rules.add_error(self.errors, field, message)
