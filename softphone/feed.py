"""Hand the device's output to the pipeline: audio in, legs and sessions to call ends.

A session (one supervised call) can arrive as one INVITE with a stream per party
or as one INVITE per party; the pipeline call ends when the session's last leg
does.  :class:`Feed` is the only place that knows this, and it knows nothing of
pjsua2, so a device in another process could feed it the same records.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from pipeline.frames import AudioFrame

from .events import DeviceEvent, LegAnswered, LegEnded, StreamStats

log = logging.getLogger(__name__)


class PipelineLike(Protocol):
    def push(self, frame: AudioFrame) -> None: ...
    def end_party(self, call_id: str, party: str) -> None: ...
    def end_call(self, call_id: str) -> None: ...


class Feed:
    def __init__(
        self, pipeline: PipelineLike, tap: Callable[[AudioFrame], None] | None = None
    ) -> None:
        self.pipeline = pipeline
        self.tap = tap  # also gets every frame (recording, levels); must not block
        self.legs: dict[str, set[str]] = {}  # session id -> open legs
        self.stats: dict[tuple[str, str], StreamStats] = {}  # latest per (session, party)

    def handle(self, item: AudioFrame | DeviceEvent) -> None:
        if isinstance(item, AudioFrame):
            self.pipeline.push(item)
            if self.tap is not None:
                self.tap(item)
        elif isinstance(item, LegAnswered):
            self.legs.setdefault(item.session_id, set()).add(item.leg)
        elif isinstance(item, LegEnded):
            for label in item.labels:
                self.pipeline.end_party(item.session_id, label)
            open_legs = self.legs.get(item.session_id, set())
            open_legs.discard(item.leg)
            if not open_legs:
                self.legs.pop(item.session_id, None)
                self.pipeline.end_call(item.session_id)
                for key in [k for k in self.stats if k[0] == item.session_id]:
                    del self.stats[key]
        elif isinstance(item, StreamStats):
            self.stats[(item.session_id, item.party)] = item
