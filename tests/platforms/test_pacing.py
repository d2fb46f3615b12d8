"""Backoff delays and the per-minute request limit: pure arithmetic on given times."""

from __future__ import annotations

import pytest

from platforms.pacing import Backoff, RateLimiter


def test_backoff_doubles_caps_and_honours_retry_after():
    b = Backoff(initial_s=1, factor=2, max_s=10)
    assert [b.delay_s(n) for n in range(6)] == [1, 2, 4, 8, 10, 10]
    assert b.delay_s(0, retry_after_s=30) == 30 and b.delay_s(3, retry_after_s=2) == 8
    with pytest.raises(ValueError):
        Backoff(initial_s=0)


def test_rate_limiter_sliding_window():
    r = RateLimiter(3, window_s=60)
    for t in (0, 1, 2):
        assert r.wait_s(t) == 0
        r.note(t)
    assert r.wait_s(30) == 30  # the first request leaves the window at 60
    assert r.wait_s(60) == 0
