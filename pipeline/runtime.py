"""The live pipeline: calls and parties in, typed events out.

:class:`Pipeline` owns one :class:`~pipeline.party.PartyStream` per (call,
party), the shared ASR worker pool and the per-call transcript merger.  It is
fed from one producer (an event loop or the softphone hand-off thread) with
:meth:`push`; events go to ``sink``, which is called from pipeline and worker
threads and must not block.  ``emitted_at`` is the call's clock when the event
leaves: the end of the newest audio received for that call, which on a live
feed is "now".  A mixed stream (frames of ``StreamKind.MIXED``) is
diarized with ``speaker_embed`` (Resemblyzer's encoder, loaded on first need
when not given): its finals carry ``speaker`` and ``speaker_kind``.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from records.events import (
    CallEnded,
    CallStarted,
    Event,
    PartyJoined,
    PartyLeft,
    TranscriptFinal,
    TranscriptPartial,
    Word,
)
from records.frames import AudioFrame, BadFrame
from records.kinds import StreamKind

from .asr import AsrEngine, AsrResult
from .diarize import Embedder, label_words
from .jobs import AsrJob, JobKind, QueueFull
from .merge import TranscriptMerger
from .party import PartyStream, StreamConfig
from .workers import AsrWorkerPool

log = logging.getLogger(__name__)

EventSink = Callable[[Event], None]


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    stream: StreamConfig = field(default_factory=StreamConfig)
    asr_workers: int = 2  # one per core
    max_pending_finals: int = 64
    max_calls: int = 64

    def __post_init__(self) -> None:
        if self.asr_workers < 1 or self.max_pending_finals < 1 or self.max_calls < 1:
            raise ValueError("asr_workers, max_pending_finals and max_calls must be >= 1")


@dataclass(slots=True)
class PipelineStats:
    frames: int = 0
    dropped_frames: int = 0  # rejected as malformed or refused (too many calls)
    finals: int = 0
    partials: int = 0
    stale_partials: int = 0
    rejected_decodes: int = 0
    finals_refused: int = 0


class _Call:
    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.parties: dict[str, PartyStream] = {}
        self.partial_rev: dict[str, int] = {}
        self.finalized: deque[str] = deque(maxlen=256)
        self.shown: set[str] = set()  # segments with a partial on screen
        self.merger = TranscriptMerger()
        self.pending_finals = 0
        self.ended = False  # no more audio; call.ended goes out once pending_finals is 0
        self.closed = False  # call.ended sent

    def now_s(self) -> float:
        return max((p.position_s for p in self.parties.values()), default=0.0)


class Pipeline:
    def __init__(
        self,
        engine: AsrEngine,
        sink: EventSink,
        config: PipelineConfig | None = None,
        speaker_embed: Embedder | None = None,
    ) -> None:
        self.config = config or PipelineConfig()
        self._embed = speaker_embed
        self._embed_failed = False
        self.sink = sink
        self.stats = PipelineStats()
        self._lock = threading.RLock()
        self._calls: dict[str, _Call] = {}
        self.pool = AsrWorkerPool(
            engine, self._on_result, self.config.asr_workers, self.config.max_pending_finals
        )

    # -- producer side ---------------------------------------------------
    def push(self, frame: AudioFrame) -> None:
        """Feed one party's frame; never raises for bad input (it is counted)."""
        with self._lock:
            self.stats.frames += 1
            call = self._call(frame.call_id)
            if call is None or call.ended:
                self.stats.dropped_frames += 1
                return
            stream = call.parties.get(frame.party)
            if stream is None or stream.ended:
                stream = PartyStream(
                    call.call_id,
                    frame.party,
                    frame.sample_rate,
                    self.config.stream,
                    self._speaker_embed(frame.kind),
                    frame.kind,
                )
                call.parties[frame.party] = stream
                self._emit(PartyJoined(call.call_id, frame.party, frame.sample_rate, frame.start_s))
            try:
                jobs = stream.push(frame, call.now_s())
            except BadFrame as err:
                self.stats.dropped_frames += 1
                log.warning("call %s: frame dropped: %s", call.call_id, err)
                return
            self._submit(jobs)

    def end_party(self, call_id: str, party: str) -> None:
        with self._lock:
            call = self._calls.get(call_id)
            stream = call.parties.get(party) if call else None
            if call is None or stream is None or stream.ended:
                return
            self._submit(stream.flush(call.now_s()))
            self._emit(PartyLeft(call_id, party, call.now_s()))

    def end_call(self, call_id: str) -> None:
        with self._lock:
            call = self._calls.get(call_id)
            if call is None or call.ended:
                return
            for party in list(call.parties):
                self.end_party(call_id, party)
            call.ended = True
            self._maybe_close(call)

    def _maybe_close(self, call: _Call) -> None:
        if call.ended and not call.closed and call.pending_finals == 0:
            call.closed = True
            self.pool.drop_stream(call.call_id)
            self._emit(CallEnded(call.call_id, call.now_s(), call.now_s()))

    def transcript(self, call_id: str) -> list[TranscriptFinal]:
        """The finals of a call so far, chronological across parties."""
        with self._lock:
            call = self._calls.get(call_id)
            return call.merger.transcript() if call else []

    def forget(self, call_id: str) -> None:
        with self._lock:
            self._calls.pop(call_id, None)
        self.pool.drop_stream(call_id)

    def close(self) -> None:
        self.pool.close()

    # -- internals ---------------------------------------------------------
    def _call(self, call_id: str) -> _Call | None:
        call = self._calls.get(call_id)
        if call is None:
            if sum(not c.ended for c in self._calls.values()) >= self.config.max_calls:
                log.warning(
                    "call %s refused: %d calls already open", call_id, self.config.max_calls
                )
                return None
            call = self._calls[call_id] = _Call(call_id)
            self._emit(CallStarted(call_id, 0.0))
        return call

    def _speaker_embed(self, kind: StreamKind) -> Embedder | None:
        """The speaker encoder for a mixed stream, loaded once; None for the others."""
        if kind is not StreamKind.MIXED or self._embed_failed:
            return None
        if self._embed is None:
            from models import ModelError
            from models.speaker import load_encoder

            try:
                self._embed = load_encoder().embed_windows
            except ModelError as err:
                self._embed_failed = True
                log.error("no speaker labels on mixed audio: %s", err)
                return None
        return self._embed

    def _submit(self, jobs: list[AsrJob]) -> None:
        for job in jobs:
            try:
                self.pool.submit(job)
            except QueueFull as err:
                self.stats.finals_refused += 1
                log.error("call %s: %s (ASR cannot keep up)", job.call_id, err)
                continue
            if job.kind is JobKind.FINAL:
                self._calls[job.call_id].pending_finals += 1

    def _emit(self, event: Event) -> None:
        try:
            self.sink(event)
        except Exception:
            log.exception("event sink failed on %s", event.type)

    def _on_result(self, job: AsrJob, result: AsrResult | None) -> None:
        with self._lock:
            call = self._calls.get(job.call_id)
            if call is None:
                return
            if result is not None and result.rejected:
                self.stats.rejected_decodes += 1
            text = result.text if result is not None else ""
            now = call.now_s()
            if job.kind is JobKind.PARTIAL:
                seg = job.segment_id
                if (
                    call.closed
                    or seg in call.finalized
                    or job.revision <= call.partial_rev.get(seg, 0)
                ):
                    self.stats.stale_partials += 1
                    return
                if not text:
                    return
                call.partial_rev[seg] = job.revision
                call.shown.add(seg)
                self.stats.partials += 1
                self._emit(
                    TranscriptPartial(
                        job.call_id, job.party, seg, job.start_s, job.end_s, text, now, job.revision
                    )
                )
                return
            call.pending_finals -= 1
            self._final(call, job, text, result, now)
            self._maybe_close(call)

    def _final(
        self, call: _Call, job: AsrJob, text: str, result: AsrResult | None, now: float
    ) -> None:
        call.finalized.append(job.segment_id)
        call.partial_rev.pop(job.segment_id, None)
        shown = job.segment_id in call.shown
        call.shown.discard(job.segment_id)
        if not text and not shown:
            return
        words = tuple(
            Word(w.text.strip(), job.start_s + w.start, job.start_s + w.end, w.probability)
            for w in (result.words if result is not None else ())
        )
        speaker = kind = None
        if job.speakers:
            words, speaker, kind = label_words(words, job.speakers, job.sample_rate)
        start, end = job.start_s, job.end_s
        final = TranscriptFinal(
            job.call_id, job.party, job.segment_id, start, end, text, now, words, speaker, kind
        )
        self.stats.finals += 1
        call.merger.push(final)
        self._emit(final)
