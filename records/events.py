"""Typed events the pipeline emits: the public contract carried to subscribers.

Every event is a small frozen dataclass with a ``type`` string and a
``to_dict()`` giving its JSON form (documented in README.md and
``schema/events.schema.json``), all from one field-driven :func:`to_dict`.
An event becomes JSON text once, in :func:`to_json`: ``event.to_json()``
keeps that text on the event, so every sink it fans out to (websocket hub,
archive, terminal) shares the one string.
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
    """:func:`to_dict` as JSON text, the one place a record is serialised.

    Strict JSON: a NaN or infinite float raises :class:`ValueError` (it would
    be a bug upstream; no client has to parse ``NaN``).  Sinks call
    :meth:`Serialisable.to_json`, which runs this once per record.
    """
    return json.dumps(to_dict(record), ensure_ascii=False, allow_nan=False)


class Serialisable:
    """Gives a record ``to_dict()`` and a ``to_json()`` made once and then shared."""

    __slots__ = ("_json",)  # the cached text; not a dataclass field (eq, repr ignore it)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    def to_json(self) -> str:
        """This record's JSON text: :func:`to_json` on the first call, the same string after.

        Fan-out points call it before handing the record to other threads, so
        the text is made exactly once per record.
        """
        try:
            text: str = self._json  # type: ignore[attr-defined]
        except AttributeError:
            text = to_json(self)
            object.__setattr__(self, "_json", text)  # the record is frozen; this is a cache
        return text


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
    # mixed stream: the open turn's speaker as it stands (provisional; the final may differ)
    speaker: str | None = field(default=None, metadata=OMIT_NONE)
    speaker_kind: str | None = field(default=None, metadata=OMIT_NONE)  # "neutral" or "role"


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
    # set only when the call did not end by hanging up, e.g. "device process 1 died (signal 9)"
    reason: str | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True, slots=True)
class Alert(Serialisable):
    """A configured phrase or regex found in a final; sent right after that final."""

    type: ClassVar[str] = "alert"
    call_id: str
    party: str
    rule: str  # the [[alerts]] name
    segment_id: str  # the final's
    text: str  # the final's text
    matched: str  # the words that matched, as the final spelled them
    start: float  # s, call clock: the matched words (the final's times if it has no words)
    end: float
    emitted_at: float


@dataclass(frozen=True, slots=True)
class Redaction(Serialisable):
    """Card data (or a configured pattern) was masked in a final: what kind, and where.

    Never the data itself.  ``start``/``end`` are the masked words' times (the
    segment's when the final has no word times); it follows its final.
    """

    type: ClassVar[str] = "redaction"
    call_id: str
    party: str
    segment_id: str
    kind: str  # "card", "expiry", "cvv" or a configured pattern's name
    start: float  # s, call clock
    end: float  # s, call clock
    emitted_at: float  # s, call clock


@dataclass(frozen=True, slots=True)
class Dtmf(Serialisable):
    """A key the party pressed (never transcribed as text).

    ``source`` is ``"inband"`` (tones heard in the audio) or ``"rfc4733"`` (RTP
    telephone-events); one press heard both ways is one event.  The digit is
    sent as is: digits can be card or PIN data, and redaction (which today masks
    finals only) is where masking them belongs.
    """

    type: ClassVar[str] = "dtmf"
    call_id: str
    party: str
    digit: str  # 0-9, *, #, A-D
    start: float  # s, call clock
    end: float  # s, call clock
    source: str  # "inband" or "rfc4733"
    emitted_at: float  # s, call clock


TranscriptEvent = TranscriptPartial | TranscriptFinal
Event = (
    TranscriptPartial
    | TranscriptFinal
    | Redaction
    | CallStarted
    | PartyJoined
    | PartyLeft
    | CallEnded
    | Alert
    | Dtmf
)
