"""What one websocket subscriber wants: calls, parties, and whether partials.

A client that takes only finals (an agent-assist backend, a QA recorder) says
``"partials": false`` when it subscribes; when no output wants a stream's
partials, the pipeline does not decode them (partials are most of the ASR's
work: each re-decodes the whole open segment, every 500 ms).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PARTIAL = "transcript.partial"


@dataclass(frozen=True, slots=True)
class Filter:
    """Which events a subscriber wants: ``None`` means all calls / all parties."""

    calls: frozenset[str] | None = None
    parties: frozenset[str] | None = None
    partials: bool = True  # False: no transcript.partial events

    def matches(self, call_id: str | None, party: str | None, kind: str = "") -> bool:
        if kind == PARTIAL and not self.partials:
            return False
        if call_id is not None and self.calls is not None and call_id not in self.calls:
            return False
        return party is None or self.parties is None or party in self.parties


def any_wants_partials(filters: Iterable[Filter | None], call_id: str, party: str) -> bool:
    """Whether any of these subscriptions would receive this stream's partials."""
    return any(f is not None and f.matches(call_id, party, PARTIAL) for f in filters)
