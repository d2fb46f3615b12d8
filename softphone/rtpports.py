"""Which UDP ports a new RTP stream tries: random by default, sequential when asked.

PJSIP 2.15 hands out media ports one after another from
``TransportConfig.port`` (``randomizePort`` only randomises where that run
starts, once per account), so an attacker who sees one call's port knows the
next.  :class:`RtpPorts` names the candidates for one stream: even ports drawn
from ``secrets`` within ``[low, high]`` (RTCP takes the odd port above), or,
with an explicit first port, the next pairs from there as PJSIP would, or only
``0`` (the kernel's choice).  Pure apart from the random source it is given.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator

ANY = 0


class RtpPorts:
    def __init__(
        self,
        first: int | None,
        low: int,
        high: int,
        rng: random.Random | None = None,
    ) -> None:
        if first is None and not (1024 <= low and low + 3 <= high <= 65535):
            raise ValueError(f"RTP port range {low}-{high} must hold two pairs within 1024-65535")
        self.first = first
        self.low = low + (low & 1)  # RTP on even ports (RFC 3550 section 11)
        self.high = high
        self._rng = rng or secrets.SystemRandom()
        self._next = first or 0

    @property
    def random(self) -> bool:
        return self.first is None

    def candidates(self, tries: int) -> Iterator[int]:
        """Up to ``tries`` RTP ports to try binding, in order (RTCP = port + 1); a
        sequential run moves on only by the ports actually taken from it."""
        pairs = (self.high - self.low + 1) // 2
        for _ in range(tries):
            if self.first == ANY:
                yield ANY
            elif self.first is None:
                yield self.low + 2 * self._rng.randrange(pairs)
            else:
                if self._next + 1 > 65535:
                    self._next = self.first
                port, self._next = self._next, self._next + 2
                yield port
