"""Typed events the pipeline emits: the public contract carried to subscribers.

Every event is a small frozen dataclass with a ``type`` string and a
``to_dict()`` giving its JSON form (documented in README.md and
``schema/events.schema.json``), all from one field-driven :func:`to_dict`.
Times are seconds on the call clock (0 = the first audio of the call);
``emitted_at`` is the call-clock time at which the pipeline emitted the event,
so ``emitted_at - end`` of a final is its latency.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

OMIT_NONE = {"omit_none": True}  # field metadata: leave the key out while the value is None


def to_dict(record: Any) -> dict[str, Any]:
    """The JSON form of an event (or a Word), driven by its dataclass fields.

    ``type`` first (when the class has one), then the fields in order; floats
    (seconds on the call clock, probabilities) rounded to 3 decimals; nested
    records and tuples of them as dicts and lists; a field marked
    :data:`OMIT_NONE` left out while it is None.
    """
    out: dict[str, Any] = {}
    kind = getattr(type(record), "type", None)
    if isinstance(kind, str):
        out["type"] = kind
    for f in fields(record):
        value = getattr(record, f.name)
        if value is None and f.metadata.get("omit_none"):
            continue
        out[f.name] = round(float(value), 3) if f.type == "float" else _json_value(value)
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return to_dict(value)
    return value


def to_json(record: Any) -> str:
    """:func:`to_dict` as compact JSON text: serialise once, share the string."""
    return json.dumps(to_dict(record), ensure_ascii=False)


class Serialisable:
    """Gives a record the ``to_dict()`` method, from :func:`to_dict`."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


@dataclass(frozen=True, slots=True)
class Word(Serialisable):
    text: str
    start: float  # s, call clock
    end: float  # s, call clock
    probability: float
    # set only where a mixed stream's segment changes speaker
    speaker: str | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True, slots=True)
class TranscriptPartial(Serialisable):
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


@dataclass(frozen=True, slots=True)
class TranscriptFinal(Serialisable):
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
    speaker: str | None = field(default=None, metadata=OMIT_NONE)  # diarized label on mixed audio
    speaker_kind: str | None = field(default=None, metadata=OMIT_NONE)  # "neutral" or "role"


@dataclass(frozen=True, slots=True)
class CallStarted(Serialisable):
    type: ClassVar[str] = "call.started"
    call_id: str
    emitted_at: float


@dataclass(frozen=True, slots=True)
class PartyJoined(Serialisable):
    type: ClassVar[str] = "party.joined"
    call_id: str
    party: str
    sample_rate: int  # Hz of the party's incoming audio
    emitted_at: float


@dataclass(frozen=True, slots=True)
class PartyLeft(Serialisable):
    type: ClassVar[str] = "party.left"
    call_id: str
    party: str
    emitted_at: float


@dataclass(frozen=True, slots=True)
class CallEnded(Serialisable):
    type: ClassVar[str] = "call.ended"
    call_id: str
    emitted_at: float
    duration: float  # s of call clock covered by audio


TranscriptEvent = TranscriptPartial | TranscriptFinal
Event = TranscriptPartial | TranscriptFinal | CallStarted | PartyJoined | PartyLeft | CallEnded
