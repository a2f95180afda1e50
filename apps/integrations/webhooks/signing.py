"""Signatures of outbound webhooks.

Each request carries `Fullfield-Signature: t=<unix seconds>,v1=<hex>`, where <hex> is
HMAC-SHA256, keyed with the endpoint's secret, of the bytes `<t>.<raw request body>`. A receiver
recomputes it over the body exactly as received, compares in constant time, and rejects
timestamps older than a few minutes (each attempt is signed afresh, so retries pass).
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Fullfield-Signature"
SCHEME = "v1"


def signature_compute(*, secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(*, secret: str, body: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return (
        f"t={timestamp},{SCHEME}={signature_compute(secret=secret, timestamp=timestamp, body=body)}"
    )


def signature_verify(
    *, secret: str, body: bytes, header: str, tolerance_seconds: int = 300, now: float | None = None
) -> bool:
    """What a receiver does (in any language): the reference implementation, used by the tests."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = signature_compute(secret=secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected, parts.get(SCHEME, ""))
