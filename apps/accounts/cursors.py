"""The one cursor codec of the accounts API: JSON in URL-safe base64, without padding."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson


def cursor_encode(data: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode("ascii").rstrip("=")


def cursor_decode(cursor: str) -> Any:
    """The data of a cursor; ValueError when it is not one this codec made."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (UnicodeEncodeError, binascii.Error, orjson.JSONDecodeError) as error:
        raise ValueError("not a cursor") from error
