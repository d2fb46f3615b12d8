"""Health and metrics of a running listenin: ``/healthz``, ``/readyz``, ``/metrics``.

:class:`Observer` belongs to :class:`~listenin.service.Outputs`.  It is fed the
same records the outputs are (device records, pipeline events) and, once
:func:`~listenin.serve.start_live` has them, watches the pipeline and the live
job (:meth:`Observer.watch`).  It reads the other figures from their owners when
asked: the readiness verdict is :class:`~sinks.health.HealthBook`'s, the metrics
are :mod:`sinks.metrics`' collector in a registry of this observer's own.  The
websocket server only renders what :meth:`Observer.routes` answer.

The three endpoints are open (no token): they say nothing about calls beyond
counts, and scrapers and orchestrators seldom carry one.  Bind the server like
the websocket port (loopback, or a network only the monitoring reaches).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from pipeline.load import LoadConfig
from records.device import DeviceEvent
from records.events import Event
from sinks.health import HealthBook, Readiness
from sinks.metrics import CONTENT_TYPE, MetricsTally, Snapshot, registry_for, render
from sinks.stats import CallStatsBook

if TYPE_CHECKING:
    from pipeline.runtime import Pipeline
    from sinks.archive import Archive
    from sinks.server import EventServer, Route
    from sinks.webhooks import Webhooks

    from .live import LiveJob

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


class Observer:
    def __init__(self, stats: CallStatsBook, clock: Callable[[], float] = time.monotonic) -> None:
        self.stats = stats
        self.clock = clock
        self.health = HealthBook()
        self.tally = MetricsTally()
        self.registry = registry_for(self.tally, self.snapshot)
        self.archive: Archive | None = None
        self.server: EventServer | None = None
        self.webhooks: Webhooks | None = None  # per-target counters on /metrics
        self.pipeline: Pipeline | None = None
        self.job: LiveJob | None = None
        self.load_config: LoadConfig | None = None

    def watch(
        self,
        pipeline: Pipeline | None = None,
        job: LiveJob | None = None,
        expect_registration: bool = False,
        load_config: LoadConfig | None = None,
    ) -> None:
        """Also read the pipeline (load, counters) and the live job (device, admission);
        ``expect_registration``: a registrar is configured, readiness waits for it."""
        self.pipeline, self.job = pipeline, job
        self.health.expect_registration = expect_registration
        if load_config is None and job is not None:
            load_config = job.gate.config
        self.load_config = load_config

    # -- the feeds (any thread) -------------------------------------------------
    def on_device_event(self, event: DeviceEvent) -> None:
        self.health.on_device_event(event)
        self.tally.on_device_event(event)

    def on_event(self, event: Event) -> None:
        self.tally.on_event(event)

    # -- the questions (the server's loop) -----------------------------------------
    def readiness(self) -> Readiness:
        load = self.pipeline.load() if self.pipeline is not None else None
        archive = self.archive.stats if self.archive is not None else None
        writable = self.archive is None or _writable(self.archive.config.root)
        return self.health.evaluate(self.clock(), load, self.load_config, archive, writable)

    def snapshot(self) -> Snapshot:
        fields: dict[str, Any] = {"readiness": self.readiness()}
        p, job = self.pipeline, self.job
        if p is not None:
            load = p.load()
            pool = p.pool
            fields.update(
                calls_active=p.open_calls,
                pipeline=asdict(p.stats),
                queued_finals=load.queued_finals,
                lag_ms=load.lag_ms,
                decodes=pool.decodes,
                decode_seconds=pool.decode_seconds,
                decode_errors=pool.errors,
            )
        else:
            fields["calls_active"] = len(self.stats.calls())
        if job is not None:
            fields.update(
                device_dropped_frames=job.device.stats.dropped_frames,
                overloaded=job.gate.overloaded is not None,
                gate_trips=job.gate.trips,
            )
        if self.server is not None:
            srv, hub = self.server.stats, self.server.hub
            fields["ws"] = {
                "clients": len(hub.subscribers),
                "connections": srv.connections,
                "slow_closes": srv.slow_disconnects,
                "auth_failures": srv.auth_failures,
                "bad_messages": srv.bad_messages,
                "events_published": hub.stats.published,
                "events_dropped": hub.stats.dropped,
            }
        if self.archive is not None:
            fields["archive"] = self.archive.stats
        if self.webhooks is not None:
            fields["webhooks"] = self.webhooks.figures()
        return Snapshot(**fields)

    def routes(self) -> dict[str, Route]:
        return {"/healthz": _healthz, "/readyz": self._readyz, "/metrics": self._metrics}

    def _readyz(self) -> tuple[int, str, bytes]:
        verdict = self.readiness()
        return (200 if verdict.ready else 503), JSON, verdict.to_json().encode() + b"\n"

    def _metrics(self) -> tuple[int, str, bytes]:
        return 200, CONTENT_TYPE, render(self.registry)


def _healthz() -> tuple[int, str, bytes]:
    return 200, TEXT, b"ok\n"


def _writable(root: os.PathLike[str]) -> bool:
    path = os.fspath(root)
    return os.access(path if os.path.isdir(path) else os.path.dirname(path) or ".", os.W_OK)
