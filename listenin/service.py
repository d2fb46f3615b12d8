"""Where a running listenin sends what it hears: terminal, websocket server, archive, webhooks.

:class:`Outputs` is the one place that fans out.  The pipeline's event sink
(:meth:`Outputs.on_event`; card data is masked first, :mod:`pipeline.redaction`),
the audio tap in front of the pipeline (:meth:`Outputs.on_audio`) and the
device's records (:meth:`Outputs.on_device_event`) each go to every configured
output: the terminal renderer, the per-call stats book, the recording archive
and the websocket server.  A pipeline event becomes JSON text once, here
(:meth:`records.events.Serialisable.to_json`); every output that writes JSON
takes that text.  Each output is non-blocking on these paths (the server and
the archive queue and return), so
one slow output never delays the audio or another output.  Recording pause and
resume requests from websocket clients come back through :meth:`Outputs.control`;
while a call is paused its partials and finals reach every output with ``text``
``""`` and no ``words`` (and the archive writes no final), unless the archive's
``transcript_while_paused`` is true.  Phrase alerts (:mod:`pipeline.alerts`) are
matched here, once per final, and each ``alert`` follows its final to every output.

With a bus (:class:`~sinks.bus_layout.BusConfig`), every event the server's hub
stamps is also queued for Redis with the same ``seq`` and bytes
(:class:`~sinks.bus_node.NodeBus`), and recording requests from gateways come
back from the bus's control stream; the ones for calls this node holds are
applied like a websocket client's.  A bus needs the server: its hub owns ``seq``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace

from pipeline.alerts import AlertMatcher, AlertRule
from pipeline.redact import RedactionConfig
from pipeline.redaction import EventRedactor
from records.device import DeviceEvent, StreamStats
from records.events import Event, TranscriptFinal, TranscriptPartial
from records.frames import AudioFrame, Gap
from sinks.archive import Archive, ArchiveConfig
from sinks.bus_layout import BusConfig
from sinks.bus_node import NodeBus
from sinks.events import RecordingEvent
from sinks.protocol import RecordingControl, RequestError
from sinks.server import EventServer, ServerConfig
from sinks.stats import CallStatsBook
from sinks.terminal import QueuedRenderer
from sinks.webhook_policy import WebhookConfig
from sinks.webhooks import Webhooks

from .observe import Observer

log = logging.getLogger(__name__)
DEFAULT_REDACTION = RedactionConfig()  # cards masked unless the config says otherwise


class Outputs:
    def __init__(
        self,
        server: ServerConfig | None = None,
        archive: ArchiveConfig | None = None,
        renderer: Callable[[Event], None] | None = None,
        bus: BusConfig | None = None,
        webhooks: list[WebhookConfig] | None = None,
        alerts: tuple[AlertRule, ...] = (),
        redaction: RedactionConfig | None = DEFAULT_REDACTION,
        live: bool = True,  # False: a recording replayed faster than real time
    ) -> None:
        if bus is not None and server is None:
            raise ValueError("a bus needs the websocket server (its hub numbers the events)")
        # the terminal behind a bounded queue: a blocked tty never stalls the pipeline
        self.renderer = QueuedRenderer(renderer) if renderer is not None else None
        self.stats = CallStatsBook()
        redact_audio = redaction is not None and redaction.redact_audio
        self.archive = (
            Archive(archive, redact_audio=redact_audio)
            if archive is not None and archive.enabled
            else None
        )
        self.bus = NodeBus(bus, self._bus_request) if bus is not None else None
        # one worker thread per HTTP target; on_event only queues (sinks.webhooks)
        self.webhooks = Webhooks(webhooks) if webhooks else None
        # /healthz, /readyz and /metrics on the server's port (listenin.observe)
        self.observer = Observer(self.stats)
        self.server = (
            EventServer(server, self.stats, on_control=self.control,
                        on_stamped=self.bus.on_stamped if self.bus is not None else None,
                        routes=self.observer.routes())
            if server is not None
            else None
        )  # fmt: skip
        if self.server is not None:
            self.server.recording = self.archive is not None  # the console's pause button
        self.observer.archive, self.observer.server = self.archive, self.server
        self.observer.webhooks = self.webhooks
        self._listeners: list[Callable[[Event], None]] = []
        self.alerts = AlertMatcher(alerts)  # [[alerts]]: their events follow the final
        # card data is masked here, before the first output sees an event (README
        # "Card data redaction"); None or nothing enabled: events pass untouched
        self.redactor = (
            EventRedactor(redaction, timed=live)
            if redaction is not None and redaction.enabled
            else None
        )
        # held finals are released from the audio tap too: one lock keeps the order
        self._ordered = threading.Lock()

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """Also call ``listener`` with every pipeline event (from pipeline threads)."""
        self._listeners.append(listener)

    def start(self) -> None:
        if self.archive is not None:
            repaired = self.archive.start()
            for path in repaired:
                log.warning("repaired recording left unfinished by a crash: %s", path)
        if self.bus is not None:
            self.bus.start()
        if self.webhooks is not None:
            self.webhooks.start()
        if self.server is not None:
            self.server.start()

    def close(self) -> None:
        """After the pipeline is closed: finish the files, then stop serving."""
        if self.archive is not None:
            self.archive.close()
        if self.server is not None:
            self.server.stop()
        if self.bus is not None:
            self.bus.close()
        if self.webhooks is not None:
            self.webhooks.close()

    # -- the three feeds ------------------------------------------------------
    def on_event(self, event: Event) -> None:
        if (
            isinstance(event, TranscriptFinal | TranscriptPartial)
            and self.archive is not None
            and self.archive.hides(event.call_id)
        ):  # recording paused: every output gets the segment without its words
            event = (
                replace(event, text="", words=())
                if isinstance(event, TranscriptFinal)
                else replace(event, text="")
            )
        # card data masked before any output (and any alert) sees the final
        if self.redactor is None:
            self._emit_all([event])
            return
        with self._ordered:
            self._emit_all(self.redactor.apply(event))

    def _emit_all(self, events: list[Event]) -> None:
        for each in events:
            self._emit(each)
            if self.alerts and isinstance(each, TranscriptFinal):
                for alert in self.alerts.match(each):
                    self._emit(alert)

    def _emit(self, event: Event) -> None:
        # serialise once, here, before the event reaches other threads: the hub,
        # the archive and the JSON-lines terminal all take this one text
        event.to_json()
        if self.renderer is not None:
            self.renderer(event)
        self.stats.on_event(event)
        self.observer.on_event(event)
        if self.archive is not None:
            self.archive.on_event(event)
        if self.server is not None:
            self.server.publish(event)
        if self.webhooks is not None:
            self.webhooks.on_event(event)
        for listener in self._listeners:
            listener(event)

    def wants_partials(self, call_id: str, party: str) -> bool:
        """Whether an output would show this stream's partials: the terminal (a tty, or
        JSON lines), the bus (its gateways' clients are unknown here), a webhook target
        whose ``events`` take them, or a websocket subscriber that did not say
        ``"partials": false``.  Pipeline threads ask."""
        if self.bus is not None or (self.renderer is not None and self.renderer.wants_partials):
            return True
        if self.webhooks is not None and self.webhooks.wants_partials(party):
            return True
        return self.server is not None and self.server.hub.wants_partials(call_id, party)

    def on_audio(self, item: AudioFrame | Gap) -> None:
        if isinstance(item, AudioFrame):
            self.stats.on_frame(item)
        if self.archive is not None:
            self.archive.push(item)
        if self.redactor is not None and self.redactor.holding:  # held finals due by now
            with self._ordered:
                self._emit_all(self.redactor.tick(item.call_id, item.end / item.sample_rate))

    def on_device_event(self, event: DeviceEvent) -> None:
        if isinstance(event, StreamStats):
            self.stats.on_stream_stats(event)
        self.observer.on_device_event(event)

    # -- requests from websocket clients ---------------------------------------
    def control(self, req: RecordingControl) -> RecordingEvent:
        """Pause or resume a call's recording now; the returned event is published."""
        if self.archive is None:
            raise RequestError("unsupported", "recording is off (no archive configured)")
        at = self.stats.position_s(req.call_id)
        if at is None:
            raise RequestError("unknown_call", f"no active call {req.call_id!r}")
        done = (
            self.archive.pause(req.call_id, at)
            if req.pause
            else self.archive.resume(req.call_id, at)
        )
        if done is None:
            state = "paused" if req.pause else "recording"
            raise RequestError("bad_field", f"call {req.call_id!r} is already {state}")
        log.info("call %s: recording %s at %.2f s", req.call_id, done.type.split(".")[1], at)
        return done

    def _bus_request(self, req: RecordingControl) -> None:
        """A gateway client's request, from the bus: applied if this node holds the call."""
        if self.server is None or self.stats.position_s(req.call_id) is None:
            return  # another node's call (or one that has ended)
        try:
            self.server.publish(self.control(req))
        except RequestError as err:
            log.info("call %s: bus request not applied: %s", req.call_id, err.message)
