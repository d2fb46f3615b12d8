"""What the pipeline keeps of each open call: its parties, pending finals, and the
frames of a successor call that reuses its id (owned by :class:`~pipeline.runtime.Pipeline`,
under its lock)."""

from __future__ import annotations

from collections import deque

from records.frames import AudioFrame

from .party import PartyStream


class PartyState:
    """One party of a call: its stream and the finals it still owes."""

    __slots__ = ("stream", "pending_finals", "leaving", "left")

    def __init__(self, stream: PartyStream) -> None:
        self.stream = stream
        self.pending_finals = 0
        self.leaving = False  # no more audio; party.left once pending_finals is 0
        self.left = False  # party.left sent


class Successor:
    """What came for a call id while its previous call was still closing."""

    __slots__ = ("frames", "ended_parties", "ended", "end_reason")

    def __init__(self, limit: int) -> None:
        self.frames: deque[AudioFrame] = deque(maxlen=limit)
        self.ended_parties: list[str] = []
        self.ended = False
        self.end_reason: str | None = None


class CallState:
    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.parties: dict[str, PartyState] = {}
        self.partial_rev: dict[str, int] = {}
        self.finalized: deque[str] = deque(maxlen=256)
        self.shown: set[str] = set()  # segments with a partial on screen
        self.pending_finals = 0
        self.ended = False  # no more audio; call.ended goes out once pending_finals is 0
        self.closed = False  # call.ended sent
        self.end_reason: str | None = None  # why, when not hung up
        self.successor: Successor | None = None

    def finalize(self, segment_id: str) -> bool:
        """A segment's final is out: no later partial of it counts; whether one was shown."""
        self.finalized.append(segment_id)
        self.partial_rev.pop(segment_id, None)
        shown = segment_id in self.shown
        self.shown.discard(segment_id)
        return shown

    def now_s(self) -> float:
        return max((p.stream.position_s for p in self.parties.values()), default=0.0)
