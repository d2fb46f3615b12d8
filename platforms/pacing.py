"""How long to wait: exponential backoff and a sliding-window request limit.

Both are sans-I/O: they are told the time and answer with a delay in seconds;
the HTTP client does the sleeping through an injected ``sleep``, so tests
assert the exact delays without waiting.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before retry ``attempt`` (0-based): ``initial_s * factor**attempt``, capped.

    A server's ``Retry-After`` wins when it asks for longer.  No jitter: one
    process talks to one platform account, and exact delays are testable.
    """

    initial_s: float = 1.0
    factor: float = 2.0
    max_s: float = 60.0
    max_retries: int = 4  # retries after the first try

    def __post_init__(self) -> None:
        if self.initial_s <= 0 or self.factor < 1 or self.max_s < self.initial_s:
            raise ValueError("backoff needs initial_s > 0, factor >= 1, max_s >= initial_s")
        if not 0 <= self.max_retries <= 20:
            raise ValueError("max_retries must be within 0..20")

    def delay_s(self, attempt: int, retry_after_s: float | None = None) -> float:
        delay = min(self.max_s, self.initial_s * self.factor**attempt)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.max_s * 5))
        return delay


class RateLimiter:
    """At most ``max_requests`` per ``window_s`` (RingCX: 120 per minute per token).

    ``wait_s(now)`` says how long to wait before the next request; ``note(now)``
    records one that was sent.  The window holds at most ``max_requests``
    timestamps (bounded, oldest dropped as they age out).
    """

    def __init__(self, max_requests: int, window_s: float = 60.0) -> None:
        if max_requests < 1 or window_s <= 0:
            raise ValueError("max_requests must be >= 1 and window_s > 0")
        self.max_requests = max_requests
        self.window_s = window_s
        self._sent: deque[float] = deque(maxlen=max_requests)

    def wait_s(self, now_s: float) -> float:
        while self._sent and self._sent[0] <= now_s - self.window_s:
            self._sent.popleft()
        if len(self._sent) < self.max_requests:
            return 0.0
        return self._sent[0] + self.window_s - now_s

    def note(self, now_s: float) -> None:
        self._sent.append(now_s)
