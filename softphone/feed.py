"""Hand the device's output to the pipeline: audio in, legs and sessions to call ends.

A session (one supervised call) can arrive as one INVITE with a stream per party
or as one INVITE per party; the pipeline call ends when the session's last leg
does.  :class:`Feed` is the only place that knows this, and it knows nothing of
pjsua2, so a device in another process could feed it the same records.

A platform adapter that learns which platform call a SIP session supervises
(RingCX's ``uii``, a Yeastar or Genesys call) passes ``names``; the pipeline
then sees the platform's call id instead of the SIP session id.  Such a plain
INVITE carries the whole call as one stream, labelled by its From user (the
platform's gateway, not a person): once named, that stream becomes the party
``mixed`` of kind ``StreamKind.MIXED``, which the pipeline diarizes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from records.device import DeviceEvent, DigitSignalled, LegAnswered, LegEnded, StreamStats
from records.frames import AudioFrame
from records.kinds import MIXED_LABEL, StreamKind

from .sessions import Sessions

log = logging.getLogger(__name__)


class PipelineLike(Protocol):
    def push(self, frame: AudioFrame) -> None: ...
    def end_party(self, call_id: str, party: str) -> None: ...
    def end_call(self, call_id: str, reason: str | None = None) -> None: ...
    def keyed(self, call_id: str, party: str, digit: str, start_s: float, end_s: float) -> None: ...


class Feed:
    def __init__(
        self,
        pipeline: PipelineLike,
        tap: Callable[[AudioFrame], None] | None = None,
        names: Callable[[str], str | None] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.tap = tap  # also gets every frame (recording, levels); must not block
        self.names = names  # SIP session id -> the platform's call id, once known
        self.sessions = Sessions()  # open SIP sessions: legs, names, mixed streams
        self.stats: dict[tuple[str, str], StreamStats] = {}  # latest per (session, party)
        self.lost: dict[str, str] = {}  # session: why a leg of it was lost (until it ends)

    def call_id(self, session_id: str) -> str:
        """The pipeline's call id for a SIP session, settled at its first use.

        The adapter names a session when told of its answer, which the device
        reports before the session's first frame; a later name is ignored.
        """
        return self.sessions.call_id(session_id, self.names)

    def party(self, session_id: str, label: str) -> str:
        return MIXED_LABEL if self.sessions.is_mixed(session_id, label) else label

    def handle(self, item: AudioFrame | DeviceEvent) -> None:
        if isinstance(item, AudioFrame):
            call_id = self.call_id(item.call_id)
            if self.sessions.is_mixed(item.call_id, item.party):
                item = replace(item, call_id=call_id, party=MIXED_LABEL, kind=StreamKind.MIXED)
            elif call_id != item.call_id:
                item = replace(item, call_id=call_id)
            self.pipeline.push(item)
            if self.tap is not None:
                self.tap(item)
        elif isinstance(item, LegAnswered):
            plain = item.identified_by == "fallback" and len(item.streams) == 1
            label = item.streams[0].label if plain else None
            self.sessions.open_leg(item.session_id, item.leg, label)
        elif isinstance(item, LegEnded):
            call_id = self.call_id(item.session_id)
            for label in item.labels:
                self.pipeline.end_party(call_id, self.party(item.session_id, label))
            if item.lost:
                self.lost[item.session_id] = item.reason
            if self.sessions.close_leg(item.session_id, item.leg) is not None:
                # its last leg: the session is gone (saying why, if a leg was lost)
                self.pipeline.end_call(call_id, self.lost.pop(item.session_id, None))
                for key in [k for k in self.stats if k[0] == item.session_id]:
                    del self.stats[key]
        elif isinstance(item, StreamStats):
            self.stats[(item.session_id, item.party)] = item
        elif isinstance(item, DigitSignalled):
            rate = item.sample_rate
            self.pipeline.keyed(self.call_id(item.session_id),
                                self.party(item.session_id, item.party), item.digit,
                                item.start / rate, item.end / rate)  # fmt: skip
