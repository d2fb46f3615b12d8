"""One INVITE dialog of the device: a pjsua2 ``Call`` with its admission and taps.

A :class:`Leg` is answered (or refused) by the device, which keeps it alive
until PJSIP reports it disconnected.  Its callbacks run on the device thread:
a state change to DISCONNECTED calls ``on_ended``, a media change calls
``on_media`` (the device taps the streams then).  Neither raises into PJSIP.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pjsua2 as pj

from .admission import Admission
from .tap import Tap

log = logging.getLogger(__name__)


class Leg(pj.Call):  # type: ignore[misc]
    def __init__(
        self,
        account: pj.Account,
        call_id: int,
        key: str,
        on_ended: Callable[[Leg, str], None],
        on_media: Callable[[Leg], None],
    ) -> None:
        super().__init__(account, call_id)
        self.key = key  # unique within the device: pjsua call id + serial
        self.on_ended = on_ended
        self.on_media = on_media
        self.admission: Admission | None = None
        self.taps: dict[int, Tap] = {}
        self.source = ""  # "ip:port" the INVITE came from
        self.answered_at: float | None = None  # monotonic s of our 200, until ACKed
        self.confirmed = False  # the 200 was ACKed
        self.ended = False

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
        try:
            info = self.getInfo()
            if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
                self.confirmed = True
            if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                self.on_ended(self, f"{info.lastStatusCode} {info.lastReason}")
        except Exception:
            log.exception("leg %s: call state callback failed", self.key)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        try:
            self.on_media(self)
        except Exception:
            log.exception("leg %s: media state callback failed", self.key)
