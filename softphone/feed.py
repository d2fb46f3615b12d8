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

from records.device import DeviceEvent, LegAnswered, LegEnded, StreamStats
from records.frames import AudioFrame
from records.kinds import MIXED_LABEL, StreamKind

log = logging.getLogger(__name__)


class PipelineLike(Protocol):
    def push(self, frame: AudioFrame) -> None: ...
    def end_party(self, call_id: str, party: str) -> None: ...
    def end_call(self, call_id: str) -> None: ...


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
        self._named: dict[str, str] = {}  # open sessions whose name is settled
        self._plain: dict[str, str] = {}  # session -> From-user label of a plain 1-stream leg
        self._mixed: set[str] = set()  # named plain sessions: their one stream is MIXED
        self.legs: dict[str, set[str]] = {}  # session id -> open legs
        self.stats: dict[tuple[str, str], StreamStats] = {}  # latest per (session, party)

    def call_id(self, session_id: str) -> str:
        """The pipeline's call id for a SIP session, settled at its first use.

        The adapter names a session when told of its answer, which the device
        reports before the session's first frame; a later name is ignored.
        """
        name = self._named.get(session_id)
        if name is None:
            if self.names is None:
                return session_id
            given = self.names(session_id)
            name = self._named[session_id] = given or session_id
            if given and session_id in self._plain:
                self._mixed.add(session_id)
        return name

    def party(self, session_id: str, label: str) -> str:
        return MIXED_LABEL if self._is_mixed(session_id, label) else label

    def _is_mixed(self, session_id: str, label: str) -> bool:
        return session_id in self._mixed and self._plain.get(session_id) == label

    def handle(self, item: AudioFrame | DeviceEvent) -> None:
        if isinstance(item, AudioFrame):
            call_id = self.call_id(item.call_id)
            if self._is_mixed(item.call_id, item.party):
                item = replace(item, call_id=call_id, party=MIXED_LABEL, kind=StreamKind.MIXED)
            elif call_id != item.call_id:
                item = replace(item, call_id=call_id)
            self.pipeline.push(item)
            if self.tap is not None:
                self.tap(item)
        elif isinstance(item, LegAnswered):
            self.legs.setdefault(item.session_id, set()).add(item.leg)
            if item.identified_by == "fallback" and len(item.streams) == 1:
                self._plain[item.session_id] = item.streams[0].label
        elif isinstance(item, LegEnded):
            call_id = self.call_id(item.session_id)
            for label in item.labels:
                self.pipeline.end_party(call_id, self.party(item.session_id, label))
            open_legs = self.legs.get(item.session_id, set())
            open_legs.discard(item.leg)
            if not open_legs:
                self.legs.pop(item.session_id, None)
                self._named.pop(item.session_id, None)
                self._plain.pop(item.session_id, None)
                self._mixed.discard(item.session_id)
                self.pipeline.end_call(call_id)
                for key in [k for k in self.stats if k[0] == item.session_id]:
                    del self.stats[key]
        elif isinstance(item, StreamStats):
            self.stats[(item.session_id, item.party)] = item
