"""A health profile's components as an HTML form: one row per component, plus one to add.

Each row holds what a person tunes (use it or not, weight, window, mapping); the rest of the
component (its key, metric, event names, survey kinds) rides along unchanged. A mapping is
written as `raw:score` pairs ("0:0, 4:40, 10:75, 18:100") or as `percentile` (`percentile
lower` when a lower raw value is healthier). The rows become the same component list the API
takes, so both are checked by one rule (metrics.components_check).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from apps.scoring.metrics import METRICS, components_check

NEW = "new"
NUMBER = r"-?\d+(?:\.\d+)?"
PAIR = re.compile(rf"^\s*({NUMBER})\s*:\s*({NUMBER})\s*$")


@dataclass
class Row:
    """One component as the form shows it, with its errors by field."""

    prefix: str
    key: str
    metric: str
    use: bool
    weight: str
    window_days: str
    mapping: str
    extra: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        metric = METRICS.get(self.metric)
        return metric.label.capitalize() if metric else self.metric

    @property
    def uses_window(self) -> bool:
        metric = METRICS.get(self.metric)
        return bool(metric and metric.uses_window)

    @property
    def description(self) -> str:
        metric = METRICS.get(self.metric)
        return metric.description if metric else ""

    @property
    def all_errors(self) -> list[str]:
        return [message for messages in self.errors.values() for message in messages]


def mapping_text(mapping: Mapping[str, Any]) -> str:
    if mapping.get("kind") == "percentile":
        return "percentile" if mapping.get("higher_is_better", True) else "percentile lower"
    return ", ".join(f"{raw:g}:{score:g}" for raw, score in mapping.get("points", []))


def rows_from_components(components: Sequence[Mapping[str, Any]]) -> list[Row]:
    rows = []
    for index, component in enumerate(components):
        rows.append(
            Row(
                prefix=f"c{index}",
                key=str(component["key"]),
                metric=str(component["metric"]),
                use=True,
                weight=f"{float(component['weight']):g}",
                window_days=str(component.get("window_days", "")),
                mapping=mapping_text(component["mapping"]),
                extra={k: component[k] for k in ("events", "kinds") if k in component},
            )
        )
    return rows


def blank_row() -> Row:
    return Row(prefix=NEW, key="", metric="", use=False, weight="", window_days="", mapping="")


def _parse_mapping(text: str) -> dict[str, Any] | str:
    """The mapping, or why the text is not one."""
    words = text.strip().lower().split()
    if words and words[0] == "percentile":
        if words[1:] not in ([], ["higher"], ["lower"]):
            return "Write “percentile” or “percentile lower”."
        return {"kind": "percentile", "higher_is_better": words[1:] != ["lower"]}
    points = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = PAIR.match(part)
        if match is None:
            return f"“{part}” is not a raw:score pair; write e.g. 0:0, 10:75, 18:100."
        points.append([float(match.group(1)), float(match.group(2))])
    return {"kind": "thresholds", "points": points}


def _number(text: str) -> float | int | str:
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() else value


@dataclass
class ParsedForm:
    rows: list[Row]
    new_row: Row
    components: list[dict[str, Any]]
    used_rows: list[Row]

    @property
    def is_valid(self) -> bool:
        return not any(row.errors for row in [*self.rows, self.new_row])


def parse(data: Mapping[str, Any], current: Sequence[Mapping[str, Any]]) -> ParsedForm:
    """Rows from the posted form (the current components give each row's fixed parts)."""
    rows = rows_from_components(current)
    for row in rows:
        row.use = data.get(f"{row.prefix}-use") == "on"
        row.weight = str(data.get(f"{row.prefix}-weight", "")).strip()
        row.window_days = str(data.get(f"{row.prefix}-window_days", "")).strip()
        row.mapping = str(data.get(f"{row.prefix}-mapping", "")).strip()
    new_row = blank_row()
    new_row.metric = str(data.get(f"{NEW}-metric", "")).strip()
    if new_row.metric:
        new_row.use = True
        new_row.key = str(data.get(f"{NEW}-key", "")).strip() or new_row.metric
        new_row.weight = str(data.get(f"{NEW}-weight", "")).strip()
        new_row.window_days = str(data.get(f"{NEW}-window_days", "")).strip()
        new_row.mapping = str(data.get(f"{NEW}-mapping", "")).strip()
        if new_row.metric not in METRICS:
            new_row.errors["metric"] = ["Choose a metric from the list."]
    used = [row for row in [*rows, new_row] if row.use]
    components: list[dict[str, Any]] = []
    for row in used:
        component: dict[str, Any] = {"key": row.key, "metric": row.metric, **row.extra}
        component["weight"] = _number(row.weight)
        if row.window_days and row.uses_window:
            component["window_days"] = _number(row.window_days)
        mapping = _parse_mapping(row.mapping)
        if isinstance(mapping, str):
            row.errors.setdefault("mapping", []).append(mapping)
            mapping = {"kind": "thresholds", "points": []}
        component["mapping"] = mapping
        components.append(component)
    if not used:
        (rows[0] if rows else new_row).errors["use"] = ["Keep at least one component."]
    for path, messages in components_check(components).items():
        match = re.match(r"components\[(\d+)\](?:\.(\w+))?", path)
        if match is None:
            continue
        row = used[int(match.group(1))]
        name = match.group(2) or "mapping"
        name = name if name in ("weight", "window_days", "key", "metric") else "mapping"
        row.errors.setdefault(name, []).extend(messages)
    return ParsedForm(rows=rows, new_row=new_row, components=components, used_rows=used)
