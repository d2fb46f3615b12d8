"""Waiting in tests: poll a condition until it holds or a deadline passes (no bare sleeps)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(fn: Callable[[], T], timeout_s: float) -> T:
    """``fn()``'s first truthy value within ``timeout_s``, else its last value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.01)
    return fn()


def wait_until(cond: Callable[[], bool], what: str, timeout_s: float) -> None:
    """Return once ``cond()`` holds; AssertionError naming ``what`` at the deadline."""
    if not wait_for(cond, timeout_s):
        raise AssertionError(f"never happened: {what}")
