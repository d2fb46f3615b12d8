"""Prometheus metrics for ``/metrics``: what the records told us, and figures read at scrape.

Two halves.  :class:`MetricsTally` is fed records (the device's
:class:`~records.device.LegAnswered`, :class:`~records.device.LegRejected`,
:class:`~records.device.RegistrationChanged`, :class:`~records.device.StreamStats`
and the pipeline's :class:`~records.events.TranscriptFinal` /
:class:`~records.events.CallEnded`) and keeps totals and fixed-bucket
histograms; it is plain, thread-safe, and cheap on the paths that feed it (a
few additions under a lock).  :class:`Snapshot` is the figures other objects
already count (pipeline, ASR pool, device, hub, server, archive), read once per
scrape by whoever owns them (webhook targets: :class:`WebhookFigures`, labelled by
target name or host).  :class:`ListeninCollector` turns both into metric
families at scrape time, in a per-owner :class:`~prometheus_client.CollectorRegistry`.

Labels are bounded: no call ids; per-party RTP figures are summed into totals
(deltas of PJMEDIA's cumulative counters) and a jitter histogram; refusals are
labelled by SIP status only (at most :data:`MAX_STATUSES` distinct, the rest
``other``); frame drops by stage.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from records.device import DeviceEvent, LegAnswered, LegRejected, RegistrationChanged, StreamStats
from records.events import CallEnded, Event, TranscriptFinal

from .archive import ArchiveStats
from .health import Readiness

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_STATUSES = 16
MAX_STREAMS = 4096  # last counters kept per (call, party) for deltas; policy: forget_oldest
LATENCY_BUCKETS_S = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0)
JITTER_BUCKETS_S = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16)
ANSWER_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
DELIVERY_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
WEBHOOK_COUNTERS = (
    ("delivered", "webhook messages answered 2xx, per target"),
    ("retried", "webhook attempts after a first one, per target"),
    ("dropped", "webhook messages dropped from the full queue (drop_partials_first)"),
    ("dead_lettered", "webhook messages given up on (dead-letter file), per target"),
)
WS_COUNTERS = (
    ("connections", "websocket connections accepted"),
    ("slow_closes", "clients closed as slow consumers (4008)"),
    ("auth_failures", "connections refused for the token"),
    ("bad_messages", "client messages that were not requests"),
    ("events_published", "events published to the hub"),
    ("events_dropped", "droppable events dropped for slow clients"),
)


@dataclass(slots=True)
class Buckets:
    """A cumulative-at-render histogram with fixed upper bounds (seconds)."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        if len(self.counts) != len(self.bounds) + 1:
            self.counts = [0] * (len(self.bounds) + 1)  # the last: +Inf

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def pairs(self) -> list[tuple[str, float]]:
        """``(le, cumulative count)`` per bound, ``+Inf`` last."""
        running, pairs = 0, list[tuple[str, float]]()
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            pairs.append(("+Inf" if bound == float("inf") else repr(bound), running))
        return pairs

    def copy(self) -> Buckets:
        return Buckets(self.bounds, list(self.counts), self.total)

    def family(self, name: str, doc: str) -> HistogramMetricFamily:
        return HistogramMetricFamily(name, doc, buckets=self.pairs(), sum_value=self.total)


_RTP_FIELDS = ("rx_packets", "lost", "discarded", "jb_lost", "jb_discarded")


class MetricsTally:
    """Totals from records; ``on_device_event`` and ``on_event`` from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.answered = 0
        self.refused: dict[str, int] = {}  # SIP status (or "other") -> count
        self.registration: RegistrationChanged | None = None
        self.rtp = dict.fromkeys(_RTP_FIELDS, 0)
        self._last: dict[tuple[str, str], StreamStats] = {}
        self.jitter = Buckets(JITTER_BUCKETS_S)
        self.answer = Buckets(ANSWER_BUCKETS_S)
        self.final_latency = Buckets(LATENCY_BUCKETS_S)

    def on_device_event(self, event: DeviceEvent) -> None:
        with self._lock:
            if isinstance(event, LegAnswered):
                self.answered += 1
                self.answer.observe(max(0.0, event.answer_ms) / 1000)
            elif isinstance(event, LegRejected):
                key = str(event.status)
                if key not in self.refused and len(self.refused) >= MAX_STATUSES:
                    key = "other"
                self.refused[key] = self.refused.get(key, 0) + 1
            elif isinstance(event, RegistrationChanged):
                self.registration = event
            elif isinstance(event, StreamStats):
                self._stream(event)

    def _stream(self, s: StreamStats) -> None:
        key = (s.session_id, s.party)
        before = self._last.pop(key, None)
        for name in _RTP_FIELDS:
            now = getattr(s, name)
            was = getattr(before, name) if before is not None else 0
            self.rtp[name] += now - was if now >= was else now  # a reset counter starts over
        self._last[key] = s
        if len(self._last) > MAX_STREAMS:
            del self._last[next(iter(self._last))]
        self.jitter.observe(max(0.0, s.jitter_ms) / 1000)

    def on_event(self, event: Event) -> None:
        if isinstance(event, TranscriptFinal):
            with self._lock:
                self.final_latency.observe(max(0.0, event.emitted_at - event.end))
        elif isinstance(event, CallEnded):
            with self._lock:
                for key in [k for k in self._last if k[0] == event.call_id]:
                    del self._last[key]


@dataclass(frozen=True, slots=True)
class WebhookFigures:
    """One webhook target's figures, copied at scrape time (``Webhooks.figures``)."""

    target: str  # the target's label: its name or host[:port], never the secret or query
    delivered: int
    retried: int
    dropped: int
    dead_lettered: int
    queued: int  # messages waiting now
    delay: Buckets  # s, queued to answered 2xx, of each delivered message


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Figures read from their owners at scrape time; None: that part does not run here."""

    calls_active: int | None = None
    device_dropped_frames: int | None = None
    pipeline: dict[str, int] | None = None  # PipelineStats' counters by field name
    queued_finals: int | None = None
    lag_ms: float | None = None
    decodes: int | None = None
    decode_seconds: float | None = None
    decode_errors: int | None = None
    overloaded: bool | None = None  # new calls are refused now
    gate_trips: int | None = None
    ws: dict[str, int] | None = None  # clients, connections, slow_closes, ...
    archive: ArchiveStats | None = None
    readiness: Readiness | None = None
    webhooks: tuple[WebhookFigures, ...] | None = None


class ListeninCollector(Collector):
    def __init__(self, tally: MetricsTally, snapshot: Callable[[], Snapshot]) -> None:
        self.tally = tally
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        with self.tally._lock:  # copied out under the lock, rendered after
            tallied = list(self._tallied())
        yield from tallied
        yield from _snapshot_families(self.snapshot())

    def _tallied(self) -> Iterator[Metric]:
        t = self.tally
        yield _counter("calls_answered", "SIP legs answered", t.answered)
        refused = CounterMetricFamily(
            "listenin_calls_refused", "INVITEs refused, by SIP status", labels=["status"]
        )
        for status, count in sorted(t.refused.items()):
            refused.add_metric([status], count)
        yield refused
        yield t.answer.family("listenin_call_answer_seconds", "INVITE to 200 OK")
        if t.registration is not None:
            reg = t.registration
            yield _gauge("sip_registered", "1 while registered", int(reg.registered))
            yield _gauge("sip_registration_status", "last REGISTER's SIP status", reg.code)
        docs = {
            "rx_packets": ("rtp_packets", "RTP packets received, all parties"),
            "lost": ("rtp_lost", "RTP packets lost, all parties"),
            "discarded": ("rtp_discarded", "RTP packets discarded, all parties"),
            "jb_lost": ("jitter_buffer_lost", "frames the jitter buffers concealed"),
            "jb_discarded": ("jitter_buffer_discarded", "frames the jitter buffers dropped"),
        }
        for key, (name, doc) in docs.items():
            yield _counter(name, doc, t.rtp[key])
        yield t.jitter.family("listenin_rtp_jitter_seconds", "RTP jitter, per stats report")
        yield t.final_latency.family(
            "listenin_final_latency_seconds", "end of a final's audio to its emission"
        )


def _snapshot_families(s: Snapshot) -> Iterator[Metric]:
    if s.readiness is not None:
        yield _gauge("ready", "1 when /readyz answers 200", int(s.readiness.ready))
        check = GaugeMetricFamily("listenin_ready_check", "1 per passing check", labels=["check"])
        for c in s.readiness.checks:
            check.add_metric([c.name], int(c.ok))
        yield check
    if s.calls_active is not None:
        yield _gauge("calls_active", "calls being transcribed", s.calls_active)
    dropped = CounterMetricFamily(
        "listenin_frames_dropped", "audio frames dropped, by stage", labels=["stage"]
    )
    if s.device_dropped_frames is not None:
        dropped.add_metric(["device"], s.device_dropped_frames)
    if s.pipeline is not None:
        dropped.add_metric(["pipeline"], s.pipeline.get("dropped_frames", 0))
    if s.archive is not None:
        dropped.add_metric(["archive"], s.archive.dropped)
    yield dropped
    if s.pipeline is not None:
        p = s.pipeline
        yield _counter("finals", "finals emitted", p.get("finals", 0))
        yield _counter(
            "finals_refused", "finals refused (ASR queue full)", p.get("finals_refused", 0)
        )
        yield _counter("partials", "partials emitted", p.get("partials", 0))
        yield _counter("partials_skipped", "partials not decoded (no output wanted them)",
                       p.get("partials_skipped", 0))  # fmt: skip
        yield _counter("partials_stale", "partials decoded too late", p.get("stale_partials", 0))
        yield _counter("calls_ended", "calls ended in the pipeline", p.get("calls_ended", 0))
    if s.queued_finals is not None:
        yield _gauge("asr_queued_finals", "finals waiting for a decoder", s.queued_finals)
    if s.lag_ms is not None:
        yield _gauge("asr_lag_seconds", "age of the oldest waiting final", s.lag_ms / 1000)
    if s.decodes is not None:
        yield SummaryMetricFamily(
            "listenin_asr_decode_seconds",
            "time in the ASR engine",
            count_value=s.decodes,
            sum_value=s.decode_seconds or 0.0,
        )
        yield _counter("asr_decode_errors", "decodes that failed", s.decode_errors or 0)
    if s.overloaded is not None:
        yield _gauge("admission_overloaded", "1 while new calls are refused", int(s.overloaded))
        yield _counter("admission_trips", "times admission closed for load", s.gate_trips or 0)
    if s.ws is not None:
        w = s.ws
        yield _gauge("ws_clients", "websocket clients connected", w.get("clients", 0))
        for key, doc in WS_COUNTERS:
            yield _counter(f"ws_{key}", doc, w.get(key, 0))
    if s.archive is not None:
        a = s.archive
        yield _counter("archive_bytes", "bytes the archive wrote", a.bytes_written)
        yield _counter("archive_errors", "failed archive file operations", a.errors)
        yield _counter("archive_files", "archive files completed", a.files)
        yield _gauge("archive_queued", "records waiting for the archive writer", a.queued)
    if s.webhooks is not None:
        yield from _webhook_families(s.webhooks)


def _webhook_families(targets: tuple[WebhookFigures, ...]) -> Iterator[Metric]:
    for key, doc in WEBHOOK_COUNTERS:
        family = CounterMetricFamily(f"listenin_webhook_{key}", doc, labels=["target"])
        for t in targets:
            family.add_metric([t.target], getattr(t, key))
        yield family
    queued = GaugeMetricFamily(
        "listenin_webhook_queued", "webhook messages waiting, per target", labels=["target"]
    )
    delay = HistogramMetricFamily(
        "listenin_webhook_delay_seconds", "webhook message queued to answered 2xx",
        labels=["target"],
    )  # fmt: skip
    for t in targets:
        queued.add_metric([t.target], t.queued)
        delay.add_metric([t.target], t.delay.pairs(), t.delay.total)
    yield queued
    yield delay


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"listenin_{name}", doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"listenin_{name}", doc, value=value)


def registry_for(tally: MetricsTally, snapshot: Callable[[], Snapshot]) -> CollectorRegistry:
    """A registry of its own (not prometheus_client's global one) with our collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ListeninCollector(tally, snapshot))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition format (:data:`CONTENT_TYPE`)."""
    return generate_latest(registry)
