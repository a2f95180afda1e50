"""Reading an ingest request body within its size limit, before anything parses it.

DRF's parsers and Django's `request.body` are bypassed on purpose: `request.body` refuses
bodies over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), and parsing a 5 MB batch into DRF's
`request.data` would decode it a second time. The Content-Length header is checked before a
byte is read, and the bytes actually read (and, for gzip, inflated) are counted as well.
"""

from __future__ import annotations

import zlib

from django.http import HttpRequest

from fullfield.api.parsers import declared_length, payload_too_large, read_bounded
from fullfield.errors import DomainError, PayloadTooLarge

__all__ = ["MAX_BODY_BYTES", "PayloadTooLarge", "UnsupportedEncoding", "read_body"]

MAX_BODY_BYTES = 5 * 1024 * 1024


class UnsupportedEncoding(DomainError):
    status_code = 415
    code = "unsupported_encoding"


def read_body(request: HttpRequest, *, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request's body (inflated when sent with Content-Encoding: gzip), at most `limit` bytes.

    Raises PayloadTooLarge (413) naming the limit, UnsupportedEncoding (415) for encodings other
    than gzip/identity, and DomainError (400) for an empty or corrupt body.
    """
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in {"identity", "gzip", "x-gzip", ""}:
        raise UnsupportedEncoding(
            f"Content-Encoding '{encoding}' is not supported; send gzip or no encoding."
        )
    body = read_bounded(request, declared=declared_length(request.META), limit=limit)
    if encoding in {"gzip", "x-gzip"}:
        body = _gunzip(body, limit=limit)
    if not body.strip():
        raise DomainError("The request body is empty; send a JSON object.")
    return body


def _gunzip(compressed: bytes, *, limit: int) -> bytes:
    # The inflated size is capped too: a few kB of gzip can inflate to gigabytes.
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(compressed, limit + 1)
    except zlib.error:
        raise DomainError("The body is not valid gzip data.") from None
    if len(body) > limit or inflater.unconsumed_tail:
        raise payload_too_large(f"more than {limit:,} bytes once decompressed", limit)
    if not inflater.eof:
        raise DomainError("The gzip body is truncated.")
    return body
