"""CSV files we hand out: every cell is neutralised against formula injection.

A spreadsheet runs a cell that begins with = + - @ (or a tab or carriage return, which some
programs skip before looking for those) as a formula, so such cells are prefixed with a single
quote, as OWASP recommends. Numbers we write ourselves (row numbers) are left alone.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, Final

FORMULA_TRIGGERS: Final = ("=", "+", "-", "@", "\t", "\r")


def csv_cell_neutralise(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


class SafeCsvWriter:
    """csv.writer whose every text cell is neutralised."""

    def __init__(self, stream: IO[str]) -> None:
        self._writer = csv.writer(stream, lineterminator="\r\n")

    def writerow(self, cells: Iterable[object]) -> None:
        self._writer.writerow([csv_cell_neutralise(cell) for cell in cells])
