"""The live job: the SIP device feeding the pipeline.

:class:`LiveJob` owns a :class:`~softphone.device.Device`, or a
:class:`~softphone.pool.DevicePool` of device processes when the host takes more
calls than one pjsua2 process does (and their SIP front, when
:func:`~listenin.serve.start_live` puts one in front of them), and a hand-off thread
that drains the device's outbox into a :class:`~softphone.feed.Feed` (and so
into the pipeline).  The device thread and the media thread never wait on the
pipeline; the hand-off thread is the pipeline's single producer.

Admission by load: the device (in a pool, the pool for all its processes) asks
:meth:`LiveJob.busy` before it admits an INVITE; while the pipeline's
:class:`~pipeline.load.LoadGate` says the ASR cannot keep up, new calls get 503
with Retry-After and calls in progress go on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from pipeline.load import LoadConfig, LoadGate
from pipeline.runtime import Pipeline
from records.device import DeviceEvent, LegAnswered, LegEnded, LegRejected, StreamStats
from records.events import CallEnded, Event
from records.frames import AudioFrame
from softphone.admission import PartyRoles
from softphone.config import DeviceConfig
from softphone.device import Device
from softphone.feed import Feed
from softphone.kamailio import KamailioFront
from softphone.pool import DevicePool

from .calls import CallLog

log = logging.getLogger(__name__)


class LiveJob:
    def __init__(
        self,
        pipeline: Pipeline,
        config: DeviceConfig,
        roles: PartyRoles | None = None,
        on_device_event: Callable[[DeviceEvent], None] | None = None,
        tap: Callable[[AudioFrame], None] | None = None,
        names: Callable[[str], str | None] | None = None,
        load: LoadConfig | None = None,
        pool: list[DeviceConfig] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pipeline = pipeline
        # one pjsua2 device in this process, or (``pool``: a config each) device processes
        self.device: Device | DevicePool = (
            Device(config, roles) if pool is None else DevicePool(pool, roles)
        )
        self.gate = LoadGate(load)  # owned by the device thread, which calls busy()
        self._clock = clock
        self.device.busy = self.busy
        self.front: KamailioFront | None = None  # the SIP front, when the device is behind one
        self.feed = Feed(pipeline, tap, names)
        self.on_device_event = on_device_event
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._handoff, name="device-handoff", daemon=True)
        self.calls_ended = 0
        self.call_log = CallLog()  # the operator's call lines (hand-off thread only)
        self._ended = threading.Condition()

    @property
    def address(self) -> str | None:
        """Where peers send SIP: the front's public address, else the device's."""
        return self.front.config.public if self.front is not None else self.device.address

    @property
    def device_ports(self) -> tuple[int, ...]:
        """The devices' loopback SIP ports (for the front's dispatcher)."""
        if isinstance(self.device, DevicePool):
            return self.device.ports
        return (int(str(self.device.address).rsplit(":", 1)[1]),)

    @property
    def capacity(self) -> int:
        """SIP calls this job takes at once."""
        if isinstance(self.device, DevicePool):
            return self.device.capacity
        return self.device.config.admission.max_calls

    def busy(self) -> str | None:
        """Why a new call is refused now (the ASR is behind), or None; never raises."""
        try:
            load = self.pipeline.load()
            was = self.gate.overloaded
            reason = self.gate.update(load.lag_ms, load.queued_finals, self._clock())
        except Exception:
            log.exception("load check failed; admitting")
            return None
        if (reason is None) != (was is None):
            log.warning("new calls %s (lag %.0f ms, %d finals queued)",
                        f"refused: {reason}" if reason else "admitted again", load.lag_ms,
                        load.queued_finals)  # fmt: skip
        return reason

    def start(self) -> None:
        self.device.start()
        self._thread.start()

    def stop(self) -> None:
        """Hang up (the BYEs pass the front), let the last frames and call ends reach the
        pipeline, then stop the front."""
        self.device.stop()
        if self.front is not None:
            self.front.stop()
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def note_event(self, event: Event) -> None:
        """Pass the pipeline's events through here to let :meth:`wait_calls_ended` work."""
        if isinstance(event, CallEnded):
            with self._ended:
                self.calls_ended += 1
                self._ended.notify_all()

    def wait_calls_ended(self, count: int, timeout_s: float) -> bool:
        with self._ended:
            return self._ended.wait_for(lambda: self.calls_ended >= count, timeout_s)

    def _handoff(self) -> None:
        while True:
            item = self.device.get(timeout_s=0.1)
            if item is None:
                if self._stop.is_set():
                    return
                continue
            try:
                # the call's name, asked while its session is open (as the feed asks)
                ended = self.feed.call_id(item.session_id) if isinstance(item, LegEnded) else ""
                self.feed.handle(item)
                self._log_call(item, ended)
                if self.on_device_event is not None and not hasattr(item, "pcm"):
                    if isinstance(item, StreamStats):  # stats follow the call's name
                        sid = item.session_id
                        party = self.feed.party(sid, item.party)
                        item = replace(item, session_id=self.feed.call_id(sid), party=party)
                    self.on_device_event(item)  # type: ignore[arg-type]
            except Exception:
                log.exception("hand-off of %s failed", type(item).__name__)

    def _log_call(self, item: object, call_id: str) -> None:
        """The operator's line for a call answered, refused or ended (after the feed saw it)."""
        if isinstance(item, LegAnswered):
            self.call_log.answered(item, self._clock())
        elif isinstance(item, LegRejected):
            self.call_log.refused(item)
        elif isinstance(item, StreamStats):
            self.call_log.stats(item)
        elif isinstance(item, LegEnded):
            last = self.feed.sessions.get(item.session_id) is None
            self.call_log.leg_ended(item, call_id, last, self._clock())
