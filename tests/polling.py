"""One way for a test to wait on another process: poll a condition until a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def eventually(
    condition: Callable[[], T | None], *, timeout: float = 30, interval: float = 0.2
) -> T | None:
    """The first truthy value `condition()` returns within `timeout` seconds, else its last
    (falsy) value. Checked once more after the deadline, so a slow machine only costs time."""
    deadline = time.monotonic() + timeout
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(interval)
    return value


def wait_until(
    condition: Callable[[], T | None],
    *,
    timeout: float = 30,
    interval: float = 0.2,
    explain: Callable[[], str] = str,
) -> T:
    """Like `eventually`, but fails the test at the deadline with `explain()` (a worker's log,
    say) so that the failure shows what the other process did."""
    value = eventually(condition, timeout=timeout, interval=interval)
    if not value:
        pytest.fail(f"still not true after {timeout}s\n{explain()}")
    return value
