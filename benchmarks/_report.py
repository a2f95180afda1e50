"""How a benchmark reports its rows to `make bench` (the one table), and the size knob.

A benchmark is a module `benchmarks/<name>.py` run as `python -m benchmarks.<name>`. It prints
whatever it likes, and for each line of the final table it calls `report_row` once, near its
end:

    from benchmarks._report import report_row, scaled

    EVENTS = scaled("BENCH_MY_EVENTS", 100_000)   # full size; BENCH_SCALE shrinks it
    ...
    report_row(
        workload="my workload",
        ours=ours_per_second, unit="ev/s",
        reference=reference_per_second, reference_name="psycopg COPY",
        goal=0.5,                     # ratio ours / reference >= 0.5
    )

`report_row` prints one human line, and one machine line (`BENCH-ROW {json}`) that goes to the
file named by BENCH_ROWS_FILE when the runner (`fullfield benchmark`, platform/fullfield/cli.py)
set it, else to stdout. A file rather than the child's stdout because benchmarks start servers
that inherit stdout and may outlive a failed benchmark. The runner collects the rows of every
benchmark and prints one table at the end (also as Markdown and JSON under bench-results/).

Goals: by default the goal applies to the ratio ours / reference and higher is better. For a
figure where lower is better (seconds, milliseconds) pass `lower_is_better=True`; for a goal on
our figure alone (no reference, or an absolute bound) pass `goal_on="ours"`. A row may take its
reference from another row of the same run (`reference_row="<workload>"`, e.g. CSV import
against the batch API's rate); the runner fills it in. `met` is left for the runner to decide
in that case.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Literal

MARKER = "BENCH-ROW "
GoalOn = Literal["ratio", "ours"]


def scale() -> float:
    """BENCH_SCALE (default 1: the sizes the goals are stated for; 0.1 for a quick check)."""
    value = float(os.environ.get("BENCH_SCALE", "1") or "1")
    if value <= 0:
        raise SystemExit(f"BENCH_SCALE must be positive, got {value}")
    return value


def scaled(name: str, full_size: int, *, minimum: int = 1) -> int:
    """The size a knob takes: its own variable if set, else the full size times BENCH_SCALE."""
    explicit = os.environ.get(name)
    if explicit:
        return int(explicit)
    return max(minimum, round(full_size * scale()))


# The knobs of benchmarks written before BENCH_SCALE existed, with their full sizes: the runner
# sets them from BENCH_SCALE unless they are set already (new benchmarks call `scaled` instead).
LEGACY_KNOBS: dict[str, int] = {
    "BENCH_INGEST_EVENTS": 100_000,
    "BENCH_CSV_ROWS": 1_000_000,
    "BENCH_FIELD_ACCOUNTS": 100_000,
    "BENCH_TASKS": 2_000,
}


def scaled_environment(environ: dict[str, str]) -> dict[str, str]:
    """`environ` with every legacy knob not set explicitly sized by BENCH_SCALE."""
    factor = float(environ.get("BENCH_SCALE", "1") or "1")
    env = dict(environ)
    for name, full_size in LEGACY_KNOBS.items():
        if not env.get(name):
            # Below about 1,000 rows fixed costs dominate every rate; keep the rounded knob sane.
            env[name] = str(max(min(full_size, 1_000), round(full_size * factor)))
    return env


@dataclass(frozen=True)
class Row:
    benchmark: str
    workload: str
    ours: float
    unit: str
    reference: float | None
    reference_name: str
    reference_row: str
    ratio: float | None
    goal: float
    goal_on: GoalOn
    lower_is_better: bool
    met: bool | None
    note: str

    def goal_text(self) -> str:
        sign = "<=" if self.lower_is_better else ">="
        if self.goal_on == "ratio":
            return f"{sign} {self.goal:g}x"
        return f"{sign} {self.goal:g} {self.unit}"


def figure(value: float) -> str:
    """Thousands separated, no exponent: 15,445 ev/s, 0.553 s."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def judge(
    *,
    ours: float,
    reference: float | None,
    goal: float,
    goal_on: GoalOn,
    lower_is_better: bool,
    ratio: float | None = None,
) -> tuple[float | None, bool | None]:
    """(ratio ours / reference unless given, whether the goal is met; None when it cannot be
    told yet)."""
    if ratio is None:
        ratio = ours / reference if reference else None
    value = ratio if goal_on == "ratio" else ours
    if value is None:
        return ratio, None
    return ratio, (value <= goal if lower_is_better else value >= goal)


def report_row(
    *,
    workload: str,
    ours: float,
    unit: str,
    goal: float,
    reference: float | None = None,
    reference_name: str = "",
    reference_row: str = "",
    goal_on: GoalOn = "ratio",
    lower_is_better: bool = False,
    note: str = "",
    benchmark: str = "",
    ratio: float | None = None,
) -> Row:
    """Print one row of the final table (a human line and a `BENCH-ROW` JSON line).

    `ratio` overrides ours / reference, for a benchmark whose headline is, say, the median of
    per-round ratios rather than the ratio of the medians."""
    ratio, met = judge(
        ours=ours,
        reference=reference,
        goal=goal,
        goal_on=goal_on,
        lower_is_better=lower_is_better,
        ratio=ratio,
    )
    row = Row(
        benchmark=benchmark or _calling_benchmark(),
        workload=workload,
        ours=ours,
        unit=unit,
        reference=reference,
        reference_name=reference_name or reference_row,
        reference_row=reference_row,
        ratio=ratio,
        goal=goal,
        goal_on=goal_on,
        lower_is_better=lower_is_better,
        met=met,
        note=note,
    )
    verdict = {True: "met", False: "NOT met", None: "to be judged"}[met]
    against = f" vs {figure(reference)} {unit} ({row.reference_name})" if reference else ""
    shown_ratio = f" = {ratio:.2f}x" if ratio is not None else ""
    print(
        f"[row] {workload}: {figure(ours)} {unit}{against}{shown_ratio}; "
        f"goal {row.goal_text()}: {verdict}",
        flush=True,
    )
    line = MARKER + json.dumps(asdict(row))
    rows_file = os.environ.get("BENCH_ROWS_FILE")
    if rows_file:
        with open(rows_file, "a", encoding="utf-8") as file:
            file.write(line + "\n")
    else:
        print(line, flush=True)
    return row


def parse_row(line: str) -> Row | None:
    """The row a `BENCH-ROW` line carries, or None for any other line."""
    if not line.startswith(MARKER):
        return None
    return Row(**json.loads(line[len(MARKER) :]))


def _calling_benchmark() -> str:
    import __main__

    spec = getattr(__main__, "__spec__", None)
    name = getattr(spec, "name", "") or ""
    return name.removeprefix("benchmarks.")
