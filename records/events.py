"""Typed events the pipeline emits: the public contract carried to subscribers.

Every event is a small frozen dataclass with a ``type`` string and a
``to_dict()`` giving its JSON form (documented in README.md and
``schema/events.schema.json``).  Times are seconds on the call clock (0 = the
first audio of the call); ``emitted_at`` is the call-clock time at which the
pipeline emitted the event, so ``emitted_at - end`` of a final is its latency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


def _s(value: float) -> float:
    return round(float(value), 3)


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    start: float  # s, call clock
    end: float  # s, call clock
    probability: float
    speaker: str | None = None  # set only when a mixed stream's segment changes speaker

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "text": self.text,
            "start": _s(self.start),
            "end": _s(self.end),
            "probability": round(float(self.probability), 3),
        }
        if self.speaker is not None:
            out["speaker"] = self.speaker
        return out


@dataclass(frozen=True, slots=True)
class TranscriptPartial:
    """Interim text of a segment still being spoken; a later one replaces it."""

    type: ClassVar[str] = "transcript.partial"
    call_id: str
    party: str
    segment_id: str
    start: float  # s, call clock
    end: float  # s, call clock (audio covered so far)
    text: str
    emitted_at: float  # s, call clock
    revision: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "call_id": self.call_id,
            "party": self.party,
            "segment_id": self.segment_id,
            "start": _s(self.start),
            "end": _s(self.end),
            "text": self.text,
            "emitted_at": _s(self.emitted_at),
            "revision": self.revision,
        }


@dataclass(frozen=True, slots=True)
class TranscriptFinal:
    """Final text of a segment; replaces every partial with the same segment_id."""

    type: ClassVar[str] = "transcript.final"
    call_id: str
    party: str
    segment_id: str
    start: float
    end: float
    text: str
    emitted_at: float
    words: tuple[Word, ...] = field(default_factory=tuple)
    speaker: str | None = None  # diarized label on mixed audio, else None
    speaker_kind: str | None = None  # "neutral" (speaker_N) or "role" (agent/customer)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "call_id": self.call_id,
            "party": self.party,
            "segment_id": self.segment_id,
            "start": _s(self.start),
            "end": _s(self.end),
            "text": self.text,
            "emitted_at": _s(self.emitted_at),
            "words": [w.to_dict() for w in self.words],
        }
        if self.speaker is not None:
            out["speaker"] = self.speaker
            out["speaker_kind"] = self.speaker_kind
        return out


@dataclass(frozen=True, slots=True)
class CallStarted:
    type: ClassVar[str] = "call.started"
    call_id: str
    emitted_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "call_id": self.call_id, "emitted_at": _s(self.emitted_at)}


@dataclass(frozen=True, slots=True)
class PartyJoined:
    type: ClassVar[str] = "party.joined"
    call_id: str
    party: str
    sample_rate: int  # Hz of the party's incoming audio
    emitted_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "call_id": self.call_id,
            "party": self.party,
            "sample_rate": self.sample_rate,
            "emitted_at": _s(self.emitted_at),
        }


@dataclass(frozen=True, slots=True)
class PartyLeft:
    type: ClassVar[str] = "party.left"
    call_id: str
    party: str
    emitted_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "call_id": self.call_id,
            "party": self.party,
            "emitted_at": _s(self.emitted_at),
        }


@dataclass(frozen=True, slots=True)
class CallEnded:
    type: ClassVar[str] = "call.ended"
    call_id: str
    emitted_at: float
    duration: float  # s of call clock covered by audio

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "call_id": self.call_id,
            "emitted_at": _s(self.emitted_at),
            "duration": _s(self.duration),
        }


TranscriptEvent = TranscriptPartial | TranscriptFinal
Event = TranscriptPartial | TranscriptFinal | CallStarted | PartyJoined | PartyLeft | CallEnded
