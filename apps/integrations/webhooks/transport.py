"""One HTTP POST of a webhook: to the checked address, no redirects, short timeouts."""

from __future__ import annotations

import dataclasses
import time

import urllib3
from urllib3.exceptions import HTTPError

from apps.integrations.webhooks.targets import Target

CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 10.0
EXCERPT_BYTES = 500


@dataclasses.dataclass(frozen=True)
class AttemptResult:
    response_code: int | None
    response_excerpt: str
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.response_code is not None and 200 <= self.response_code < 300


def webhook_post(target: Target, *, body: bytes, headers: dict[str, str]) -> AttemptResult:
    """POST `body` to `target`; never raises for network or HTTP failures, it reports them."""
    timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS)
    pool: urllib3.HTTPConnectionPool
    # The pool connects to the address the guard checked; TLS still verifies the hostname.
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            server_hostname=target.hostname,
            assert_hostname=target.hostname,
            cert_reqs="CERT_REQUIRED",
        )
    else:
        pool = urllib3.HTTPConnectionPool(
            target.address, target.port, timeout=timeout, retries=False, maxsize=1
        )
    started = time.monotonic()
    try:
        with pool:
            response = pool.urlopen(
                "POST",
                target.path,
                body=body,
                headers={**headers, "Host": target.host_header},
                redirect=False,
                retries=False,
                assert_same_host=False,
                preload_content=False,
            )
            try:
                excerpt = response.read(EXCERPT_BYTES, decode_content=False)
            finally:
                response.release_conn()
            code = response.status
    except HTTPError as error:
        return AttemptResult(
            response_code=None,
            response_excerpt="",
            error=f"{type(error).__name__}: {error}"[:500],
            duration_ms=_elapsed_ms(started),
        )
    problem = ""
    if 300 <= code < 400:
        location = response.headers.get("Location")
        problem = f"Redirects are not followed (HTTP {code} to {location!r})."
    elif not 200 <= code < 300:
        problem = f"The receiver answered HTTP {code}."
    return AttemptResult(
        response_code=code,
        response_excerpt=excerpt.decode("utf-8", errors="replace"),
        error=problem[:500],
        duration_ms=_elapsed_ms(started),
    )


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
