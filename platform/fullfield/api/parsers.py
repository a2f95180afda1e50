"""The one JSON parser of the API: bounded in size, depth and number range.

DRF's JSONParser reads `request.body` (Django answers a body over DATA_UPLOAD_MAX_MEMORY_SIZE
with a bare 400) and catches only ValueError, so a deeply nested body is a RecursionError and
invalid UTF-8 a UnicodeDecodeError: server errors. This parser refuses, each with a 4xx in the
one error shape:

- a body over API_MAX_BODY_BYTES: 413, from Content-Length before a byte is read, or once the
  bytes read pass the limit (a chunked body is never buffered beyond it);
- bytes that are not UTF-8 or not JSON: 400;
- nesting deeper than JSON_MAX_DEPTH arrays and objects: 400;
- integers outside what PostgreSQL's jsonb and the API's JSON encoder carry exactly
  (-2^63 .. 2^64-1): 400 naming the field.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
from django.conf import settings
from rest_framework import exceptions, parsers

from fullfield.errors import DomainError, PayloadTooLarge

JSON_MAX_DEPTH: Final = 64
INT_MIN: Final = -(2**63)
INT_MAX: Final = 2**64 - 1
_READ_CHUNK: Final = 256 * 1024
# 19 digits is the shortest text of an integer outside the range above (-2^63 - 1). Found by
# mapping every digit to "0" and everything else to a space, then one substring search: both
# run in C over the bytes, about ten times faster than a regular expression.
_LONG_DIGIT_RUN: Final = b"0" * 19
_DIGITS_ONLY: Final = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))


def payload_too_large(size_text: str, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is {size_text}; the limit is {limit:,} bytes "
        f"({limit / (1024 * 1024):g} MB) a request."
    )


def declared_length(meta: dict[str, Any]) -> int | None:
    raw = str(meta.get("CONTENT_LENGTH") or "").strip()
    return int(raw) if raw.isdigit() else None


def read_bounded(stream: Any, *, declared: int | None, limit: int) -> bytes:
    """At most `limit` bytes of `stream`; PayloadTooLarge (413) before reading more."""
    if declared is not None and declared > limit:
        raise payload_too_large(f"{declared:,} bytes", limit)
    if stream is None:
        return b""
    chunks: list[bytes] = []
    received = 0
    while True:
        chunk = stream.read(_READ_CHUNK)
        if not chunk:
            break
        received += len(chunk)
        if received > limit:
            raise payload_too_large(f"more than {limit:,} bytes", limit)
        chunks.append(chunk)
    return b"".join(chunks)


def has_long_digit_run(body: bytes) -> bool:
    """Whether `body` holds 19 digits in a row: the only way an integer out of range can look."""
    return _LONG_DIGIT_RUN in body.translate(_DIGITS_ONLY)


def may_need_value_checks(body: bytes) -> bool:
    """False when the text shows json_value_problem cannot find anything in it."""
    if has_long_digit_run(body):
        return True
    return body.count(b"[") + body.count(b"{") > JSON_MAX_DEPTH


def json_decode(body: bytes, *, check_values: bool = True) -> Any:
    """The JSON document in `body`, or DomainError (400) saying what is wrong with it.

    With check_values, nesting beyond JSON_MAX_DEPTH is a 400 and an integer out of range a
    400 naming its field.
    """
    try:
        document = msgspec.json.decode(body)
    except UnicodeDecodeError:
        raise DomainError("The body is not valid UTF-8 text.") from None
    except RecursionError:
        raise _too_deep() from None
    except msgspec.DecodeError as error:
        raise DomainError(f"The body is not valid JSON: {error}.") from None
    if check_values and may_need_value_checks(body):
        problem = json_value_problem(document)
        if problem is not None:
            path, message = problem
            if message is _DEPTH_MESSAGE:
                raise _too_deep()
            raise exceptions.ValidationError(_nest(path, message))
    return document


_DEPTH_MESSAGE: Final = f"Is nested more than {JSON_MAX_DEPTH} levels deep."
INT_RANGE_MESSAGE: Final = (
    f"Integers must be between {INT_MIN:,} and {INT_MAX:,}; send larger numbers as strings."
)


def _too_deep() -> DomainError:
    return DomainError(
        f"The body is nested too deeply: at most {JSON_MAX_DEPTH} levels of arrays and objects."
    )


def json_value_problem(value: Any) -> tuple[list[str], str] | None:
    """The path to the first value nested too deeply or an integer out of range, and why.

    Iterative, so that it cannot itself run out of stack on the documents it refuses.
    """
    stack: list[tuple[Any, list[str]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                return path, INT_RANGE_MESSAGE
        elif isinstance(item, dict | list):
            if len(path) >= JSON_MAX_DEPTH:
                return path, _DEPTH_MESSAGE
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            stack.extend((child, [*path, str(key)]) for key, child in pairs)
    return None


def _nest(path: list[str], message: str) -> dict[str, Any]:
    """{"attributes": {"a": [message]}} for the path ["attributes", "a"]."""
    tree: dict[str, Any] = {}
    value: Any = [message]
    for key in reversed(path or ["non_field_errors"]):
        tree = {key: value}
        value = tree
    return tree


class JsonParser(parsers.BaseParser):
    """application/json for every API view (REST_FRAMEWORK DEFAULT_PARSER_CLASSES)."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        request = (parser_context or {}).get("request")
        meta = request.META if request is not None else {}
        body = read_bounded(
            stream, declared=declared_length(meta), limit=settings.API_MAX_BODY_BYTES
        )
        if not body.strip():
            raise DomainError("The request body is empty; send a JSON document.")
        return json_decode(body)
