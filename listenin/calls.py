"""The operator's call lines: one INFO line per call answered, refused and ended.

:class:`CallLog` hears the device's records (the live job's hand-off thread
passes them) and logs on ``listenin.calls``, which the default log level shows.
It is told the time (``now_s``, monotonic seconds), so a call's duration is the
SIP call's: from its first leg answered to its last leg ended.  Each line also
carries its values as ``fields`` (``--log-format json`` writes them as keys):
``event``, ``call_id``, ``session_id``, ``parties``, ``codec``, ``duration_s``,
``reason``, ``status``, ``source``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from records.device import LegAnswered, LegEnded, LegRejected, StreamStats

from .logs import CALLS_LOGGER

MAX_OPEN_CALLS = 4096  # sessions remembered; beyond, the oldest is forgotten (forget_oldest)


@dataclass(slots=True)
class _Call:
    answered_s: float
    source: str
    parties: list[str] = field(default_factory=list)
    codecs: list[str] = field(default_factory=list)


class CallLog:
    def __init__(
        self, logger: logging.Logger | None = None, max_open: int = MAX_OPEN_CALLS
    ) -> None:
        self.log = logger or logging.getLogger(CALLS_LOGGER)
        self.max_open = max_open
        self._open: OrderedDict[str, _Call] = OrderedDict()  # session id -> what is known

    def __len__(self) -> int:
        return len(self._open)

    def answered(self, item: LegAnswered, now_s: float) -> None:
        call = self._open.get(item.session_id)
        if call is None:
            call = self._open[item.session_id] = _Call(now_s, item.source)
            while len(self._open) > self.max_open:
                self._open.popitem(last=False)  # forget_oldest: its end line says less
        labels = [s.label for s in item.streams]
        call.parties += [p for p in labels if p not in call.parties]
        self._line(
            "call answered: session %s leg %s from %s, parties %s (%s, %.0f ms)",
            (item.session_id, item.leg, item.source, ",".join(labels) or "-",
             item.identified_by, item.answer_ms),
            event="answered", session_id=item.session_id, leg=item.leg, source=item.source,
            parties=labels, identified_by=item.identified_by, status=200,
            answer_ms=round(item.answer_ms, 1),
        )  # fmt: skip

    def refused(self, item: LegRejected) -> None:
        self._line(
            "call refused: %d %s from %s",
            (item.status, item.reason, item.source),
            event="refused", source=item.source, status=item.status, reason=item.reason,
        )  # fmt: skip

    def stats(self, item: StreamStats) -> None:
        """``item`` as the device sent it (its SIP session id): the call's codec."""
        call = self._open.get(item.session_id)
        if call is not None and item.codec and item.codec not in call.codecs:
            call.codecs.append(item.codec)

    def leg_ended(self, item: LegEnded, call_id: str, last: bool, now_s: float) -> None:
        """A leg ended; ``last``: the session's last, the call is over (its line now)."""
        if not last:
            return
        call = self._open.pop(item.session_id, None)
        parties = call.parties if call else list(item.labels)
        codec = ",".join(call.codecs) if call and call.codecs else None
        duration = round(max(0.0, now_s - call.answered_s), 1) if call else None
        self._line(
            "call ended: %s (session %s), parties %s, codec %s, %s s, %s",
            (call_id, item.session_id, ",".join(parties) or "-", codec or "-",
             "-" if duration is None else f"{duration:.1f}", item.reason),
            event="lost" if item.lost else "ended", call_id=call_id,
            session_id=item.session_id, parties=parties, codec=codec, duration_s=duration,
            reason=item.reason, source=call.source if call else None,
        )  # fmt: skip

    def _line(self, message: str, args: tuple[Any, ...], **fields: Any) -> None:
        level = logging.WARNING if fields.get("event") == "lost" else logging.INFO
        self.log.log(level, message, *args, extra={"fields": fields})
