"""Reading CSV files as streams: a row at a time, never the whole file in memory.

Row numbers are the file's own, as a spreadsheet shows them: the header is row 1, and a blank
line still takes a number (a cell with a line break inside quotes does not start a new row).
The csv module runs in strict mode, so a malformed quote is an error naming its row rather
than a silently merged cell.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, Final

from apps.accounts.services.rules import contains_nul
from fullfield.errors import DomainError

_HASH_CHUNK: Final = 1024 * 1024

Row = tuple[int, list[str]]


class FileUnreadable(DomainError):
    """The file as a whole cannot be read as UTF-8 CSV; `row` is where reading stopped."""

    def __init__(self, message: str, *, row: int = 0) -> None:
        super().__init__(message, fields={"file": [message]})
        self.row = row


@contextmanager
def text_of(binary: IO[bytes] | Any) -> Iterator[io.TextIOWrapper]:
    """A text view of a binary file (a leading byte-order mark is dropped).

    The wrapper is detached on the way out, so the caller's file stays open.
    """
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
    try:
        yield text
    finally:
        text.detach()


def csv_rows(text: IO[str]) -> Iterator[Row]:
    """(row number, cells) for every row, the header (row 1) included."""
    reader = csv.reader(text, strict=True)
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise FileUnreadable(
                f"Row {number + 1} is not valid CSV ({error}); nothing was imported.",
                row=number + 1,
            ) from None
        except UnicodeDecodeError:
            raise FileUnreadable(
                f"Row {number + 1} is not UTF-8 text; nothing was imported.", row=number + 1
            ) from None
        number += 1
        yield number, cells


def is_blank(cells: list[str]) -> bool:
    return all(not cell.strip() for cell in cells)


def has_nul(cells: list[str]) -> bool:
    return any(contains_nul(cell) for cell in cells)


@dataclass(frozen=True)
class UploadFacts:
    sha256: str
    size: int
    header: tuple[str, ...]


def upload_inspect(upload: Any) -> UploadFacts:
    """Check an uploaded file (a Django UploadedFile) is non-empty UTF-8 CSV with a header and
    at least one row; return its digest and header. Reads the file in chunks."""
    size = upload.size or 0
    if size == 0:
        raise FileUnreadable("The file is empty; send a CSV file with a header row.")
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    upload.seek(0)
    for chunk in upload.chunks(_HASH_CHUNK):
        digest.update(chunk)
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as error:
            raise FileUnreadable(
                f"The file is not UTF-8 text (byte {offset + error.start + 1:,} is not valid "
                "UTF-8). Save it as CSV UTF-8."
            ) from None
        offset += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise FileUnreadable(
            "The file is not UTF-8 text (it ends inside a character). Save it as CSV UTF-8."
        ) from None

    upload.seek(0)
    with text_of(upload.file) as text:
        rows = csv_rows(text)
        header: list[str] | None = None
        for _number, cells in rows:
            if header is None:
                header = cells
            elif not is_blank(cells):
                break
        else:
            if header is None or is_blank(header):
                raise FileUnreadable("The file has no header row; the first row names columns.")
            raise FileUnreadable("The file has a header but no rows to import.")
    if is_blank(header) or has_nul(header):
        raise FileUnreadable("The first row must be a header naming the columns.")
    upload.seek(0)
    return UploadFacts(sha256=digest.hexdigest(), size=size, header=tuple(header))
