"""How many INVITEs one source may send: a token bucket per source IP address.

Sans-I/O: the device passes the source address and the time
(:func:`time.monotonic` at the edge); :meth:`SourceRateLimit.allow` answers
whether this INVITE may go on to admission.  The table of sources is bounded:
when it is full the source seen least recently is forgotten (policy
``evict_least_recent``), so a flood from many spoofed addresses costs memory
up to ``max_sources`` entries and no more.  Refusals are counted per reason.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from .addresses import split_source


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp_s: float


class SourceRateLimit:
    def __init__(self, rate_per_s: float, burst: int, max_sources: int = 4096) -> None:
        if rate_per_s <= 0 or burst < 1 or max_sources < 1:
            raise ValueError("rate_per_s > 0, burst >= 1 and max_sources >= 1 are required")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_sources = max_sources
        self.refused = 0
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def allow(self, source: str, now_s: float) -> bool:
        """One INVITE from ``source`` ("ip:port" or "ip") at ``now_s`` seconds."""
        key = host_of(source)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(float(self.burst), now_s)
            self._buckets[key] = bucket
            while len(self._buckets) > self.max_sources:
                self._buckets.popitem(last=False)  # policy: evict_least_recent
        else:
            self._buckets.move_to_end(key)
            elapsed = max(0.0, now_s - bucket.stamp_s)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate_per_s)
            bucket.stamp_s = now_s
        if bucket.tokens < 1.0:
            self.refused += 1
            return False
        bucket.tokens -= 1.0
        return True

    def retry_after_s(self) -> int:
        """Seconds a refused source should wait for its next token (for Retry-After)."""
        return max(1, round(1.0 / self.rate_per_s))

    def __len__(self) -> int:
        return len(self._buckets)


def host_of(source: str) -> str:
    """``1.2.3.4:5060`` -> ``1.2.3.4``; ``[::1]:5060`` -> ``::1``; a bare host as is."""
    return split_source(source)[0]
