"""Events of the recording archive itself, in the style of :mod:`records.events`.

A supervisor can pause the recording of a call (while a card number is read)
and resume it later.  Both are recorded as events on the call clock so that a
transcript reader knows why the audio is silent there; they are written to the
call's ``transcript.jsonl`` in between the finals, and published to whoever
else subscribes to events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from records.events import Serialisable


@dataclass(frozen=True, slots=True)
class RecordingPaused(Serialisable):
    """From ``at`` on, the call's audio is written as silence."""

    type: ClassVar[str] = "recording.paused"
    call_id: str
    at: float  # s, call clock


@dataclass(frozen=True, slots=True)
class RecordingResumed(Serialisable):
    """From ``at`` on, the call's audio is written again."""

    type: ClassVar[str] = "recording.resumed"
    call_id: str
    at: float  # s, call clock


RecordingEvent = RecordingPaused | RecordingResumed
