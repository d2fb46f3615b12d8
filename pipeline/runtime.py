"""The live pipeline: calls and parties in, typed events out.

:class:`Pipeline` owns one :class:`~pipeline.party.PartyStream` per (call,
party) and the shared ASR worker pool.  It is fed from one producer (an event
loop or the softphone hand-off thread) with :meth:`push`.  Events are queued in
order under the pipeline's lock and handed to ``sink`` *outside* it
(:class:`~pipeline.outbox.Outbox`), so a slow sink never holds up the ASR
workers or the producer's bookkeeping; it should still not block for long.

Lifecycle: a call starts with its first frame and ends with :meth:`end_call`.
A party's finals precede its ``party.left``; ``call.ended`` is the call's last
event, after which nothing of it is kept.  Frames of a call id that arrive after
:meth:`end_call` are a *new* call with that id, started once the old one's last
event is out; its frames wait in a bounded buffer (``drop_oldest_frame``).

``emitted_at`` is the call's clock when the event leaves: the end of the newest
audio received for that call, which on a live feed is "now".  A mixed stream
(frames of ``StreamKind.MIXED``) is diarized with ``speaker_embed``
(Resemblyzer's encoder, loaded on first need when not given): its finals carry
``speaker`` and ``speaker_kind``, its partials the provisional ones.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field

from records.events import CallEnded, CallStarted, Dtmf, Event, PartyJoined, PartyLeft
from records.frames import AudioFrame, BadFrame
from records.kinds import StreamKind

from .asr import AsrEngine, AsrResult
from .calls import CallState, PartyState, Successor
from .commit import Commit, after_seam, lost_its_way
from .diarize import Embedder
from .jobs import AsrJob, JobKind, QueueFull
from .keypad import DigitSource
from .load import Load
from .outbox import EventSink, Outbox
from .party import PartyStream, StreamConfig
from .results import commit_of, final_of, partial_of, spoken
from .workers import AsrWorkerPool

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    stream: StreamConfig = field(default_factory=StreamConfig)
    asr_workers: int = 2  # one per core
    max_pending_finals: int = 64
    max_calls: int = 64
    successor_frames: int = 500  # frames held for a reused call id while its old call closes

    def __post_init__(self) -> None:
        if min(self.asr_workers, self.max_pending_finals, self.max_calls) < 1:
            raise ValueError("asr_workers, max_pending_finals and max_calls must be >= 1")
        if self.successor_frames < 0:
            raise ValueError("successor_frames must be >= 0")


@dataclass(slots=True)
class PipelineStats:
    frames: int = 0
    dropped_frames: int = 0  # rejected as malformed or refused (too many calls)
    finals: int = 0
    commits: int = 0  # finals of stable words inside a segment (pipeline.commit)
    finals_retried: int = 0  # rejected finals of a commit's rest, decoded again
    partials: int = 0
    stale_partials: int = 0
    partials_skipped: int = 0  # not decoded: no output wanted them
    rejected_decodes: int = 0
    finals_refused: int = 0
    calls_started: int = 0
    calls_ended: int = 0
    successor_frames_dropped: int = 0


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
        self.stats = PipelineStats()
        # (call_id, party) -> whether any output shows its partials; None: all do
        self.partials_wanted: Callable[[str, str], bool] | None = None
        self._lock = threading.RLock()
        self._calls: dict[str, CallState] = {}
        self._outbox = Outbox(sink)  # filled under _lock, delivered outside it
        self.pool = AsrWorkerPool(
            engine, self._on_result, self.config.asr_workers, self.config.max_pending_finals
        )

    # -- producer side ---------------------------------------------------
    def push(self, frame: AudioFrame) -> None:
        """Feed one party's frame; never raises for bad input (it is counted)."""
        with self._lock:
            self.stats.frames += 1
            self._push(frame)
        self._deliver()

    def keyed(self, call_id: str, party: str, digit: str, start_s: float, end_s: float) -> None:
        """A digit the signalling reported (RFC 4733) for a party whose audio is open."""
        with self._lock:
            call = self._calls.get(call_id)
            state = call.parties.get(party) if call is not None and not call.ended else None
            if call is None or state is None or state.leaving:
                log.info("call %s: digit for party %s without audio dropped", call_id, party)
                return
            state.stream.keypad.told(digit, start_s, end_s, DigitSource.RFC4733)
            self._emit_digits(call, party, state.stream)
        self._deliver()

    def end_party(self, call_id: str, party: str) -> None:
        with self._lock:
            call = self._calls.get(call_id)
            if call is not None and call.successor is not None:
                call.successor.ended_parties.append(party)
            elif call is not None:
                self._end_party(call, party)
        self._deliver()

    def end_call(self, call_id: str, reason: str | None = None) -> None:
        """No more audio for the call; ``reason`` when it did not end by hanging up."""
        with self._lock:
            call = self._calls.get(call_id)
            if call is not None and call.successor is not None:
                call.successor.ended = True
                call.successor.end_reason = reason
            elif call is not None:
                call.end_reason = reason
                self._end_call(call)
        self._deliver()

    @property
    def open_calls(self) -> int:
        """Calls the pipeline still holds (ended ones leave once their last event is out)."""
        with self._lock:
            return len(self._calls)

    def load(self) -> Load:
        """How far behind the ASR is: the oldest waiting final's age on its call's clock
        (how much audio came since it was queued) and how many finals wait."""
        with self._lock:
            job, queued = self.pool.waiting_finals()
            call = self._calls.get(job.call_id) if job is not None else None
            lag_s = call.now_s() - job.requested_at if call and job else 0.0
        return Load(max(0.0, lag_s) * 1000.0, queued)

    def close(self) -> None:
        self.pool.close()
        self._deliver()

    # -- internals (called with _lock held) --------------------------------
    def _push(self, frame: AudioFrame) -> None:
        call = self._calls.get(frame.call_id)
        if call is not None and call.ended:
            self._hold_for_successor(call, frame)
            return
        if call is None:
            call = self._open(frame.call_id)
            if call is None:
                self.stats.dropped_frames += 1
                return
        party = call.parties.get(frame.party)
        if party is None or party.leaving:
            if party is not None and not party.left:
                self.stats.dropped_frames += 1  # its final words are still being decoded
                return
            stream = PartyStream(
                call.call_id,
                frame.party,
                frame.sample_rate,
                self.config.stream,
                self._speaker_embed(frame.kind),
                frame.kind,
            )
            party = call.parties[frame.party] = PartyState(stream)
            self._emit(PartyJoined(call.call_id, frame.party, frame.sample_rate, frame.start_s))
        try:
            jobs = party.stream.push(frame, call.now_s())
        except BadFrame as err:
            self.stats.dropped_frames += 1
            log.warning("call %s: frame dropped: %s", call.call_id, err)
            return
        self._submit(call, party, jobs)
        self._emit_digits(call, frame.party, party.stream)

    def _emit_digits(self, call: CallState, label: str, stream: PartyStream) -> None:
        for d in stream.digits():
            self._emit(Dtmf(call.call_id, label, d.digit, d.start, d.end, d.source.value,
                            call.now_s()))  # fmt: skip

    def _hold_for_successor(self, call: CallState, frame: AudioFrame) -> None:
        if call.successor is None:
            if not self.config.successor_frames:
                self.stats.dropped_frames += 1
                return
            call.successor = Successor(self.config.successor_frames)
            log.info("call %s: id used again while the old call closes", call.call_id)
        held = call.successor.frames
        if len(held) == held.maxlen:
            self.stats.successor_frames_dropped += 1  # policy: drop_oldest_frame
        held.append(frame)

    def _open(self, call_id: str) -> CallState | None:
        if len(self._calls) >= self.config.max_calls:
            log.warning("call %s refused: %d calls already open", call_id, self.config.max_calls)
            return None
        call = self._calls[call_id] = CallState(call_id)
        self.stats.calls_started += 1
        self._emit(CallStarted(call_id, 0.0))
        return call

    def _end_party(self, call: CallState, label: str) -> None:
        party = call.parties.get(label)
        if party is None or party.leaving:
            return
        party.leaving = True
        self._submit(call, party, party.stream.flush(call.now_s()))
        self._emit_digits(call, label, party.stream)
        self.pool.drop_stream(call.call_id, label)  # its partials are moot now
        self._maybe_left(call, label, party)

    def _end_call(self, call: CallState) -> None:
        if call.ended:
            return
        for label in list(call.parties):
            self._end_party(call, label)
        call.ended = True
        self._maybe_close(call)

    def _maybe_left(self, call: CallState, label: str, party: PartyState) -> None:
        if party.leaving and not party.left and party.pending_finals == 0:
            party.left = True
            self._emit(PartyLeft(call.call_id, label, call.now_s()))

    def _maybe_close(self, call: CallState) -> None:
        if not call.ended or call.closed or call.pending_finals:
            return
        call.closed = True
        self.pool.drop_stream(call.call_id)
        self._emit(CallEnded(call.call_id, call.now_s(), call.now_s(), call.end_reason))
        self.stats.calls_ended += 1
        del self._calls[call.call_id]  # the call leaves the pipeline with its last event
        successor = call.successor
        if successor is not None:
            for frame in successor.frames:
                self._push(frame)
            new = self._calls.get(call.call_id)
            if new is not None:
                for label in successor.ended_parties:
                    self._end_party(new, label)
                if successor.ended:
                    new.end_reason = successor.end_reason
                    self._end_call(new)

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

    def _submit(self, call: CallState, party: PartyState, jobs: list[AsrJob]) -> None:
        for job in jobs:
            if job.kind is JobKind.PARTIAL and not party.stream.commits and not self._shows(job):
                self.stats.partials_skipped += 1  # no output would show it: not decoded
                continue
            try:
                self.pool.submit(job)
            except QueueFull as err:
                self.stats.finals_refused += 1
                log.error("call %s: %s (ASR cannot keep up)", job.call_id, err)
                continue
            if job.kind is JobKind.FINAL:
                call.pending_finals += 1
                party.pending_finals += 1

    def _shows(self, job: AsrJob) -> bool:
        """Whether an output shows this stream's partials."""
        wanted = self.partials_wanted
        return wanted is None or wanted(job.call_id, job.party)

    def _emit(self, event: Event) -> None:
        self._outbox.put(event)

    def _deliver(self) -> None:
        """Hand queued events to the sink, in order, outside ``_lock``."""
        self._outbox.deliver()

    def _on_result(self, job: AsrJob, result: AsrResult | None) -> None:
        with self._lock:
            self._result(job, result)
        self._deliver()

    def _result(self, job: AsrJob, result: AsrResult | None) -> None:
        call = self._calls.get(job.call_id)
        if call is None:
            return
        party = call.parties.get(job.party)
        if result is not None and result.rejected:
            self.stats.rejected_decodes += 1
        if result is not None and job.seam is not None:
            result = after_seam(result, job.start_s, job.seam)
        text = spoken(result.text) if result is not None else ""
        now = call.now_s()
        if job.kind is JobKind.PARTIAL:
            seg = job.segment_id
            if (
                party is None
                or party.leaving
                or seg in call.finalized
                or job.revision <= call.partial_rev.get(seg, 0)
            ):
                self.stats.stale_partials += 1
                return
            commit = party.stream.decoded(job, result) if result is not None else None
            if commit is not None:
                self._commit(call, job, commit, now)
                return
            if not text or not self._shows(job):
                return  # a partial decoded only for the streaming commit stays unseen
            call.partial_rev[seg] = job.revision
            call.shown.add(seg)
            self.stats.partials += 1
            self._emit(partial_of(job, text, now))
            return
        if party is not None and self._retry(party, job, result, now):
            return  # the same final, decoded again from a clean onset: still pending
        call.pending_finals -= 1
        self._final(call, job, text, result, now)
        if party is not None:
            party.pending_finals -= 1
            self._maybe_left(call, job.party, party)
        self._maybe_close(call)

    def _retry(self, party: PartyState, job: AsrJob, result: AsrResult | None, now: float) -> bool:
        """A final of a commit's rest that the guards rejected goes to the decoder once more."""
        again = party.stream.retry(job, now) if lost_its_way(result) else None
        with suppress(QueueFull):
            if again is not None:
                self.pool.submit(again, first=True)  # before the party's later finals
                self.stats.finals_retried += 1
                return True
        return False

    def _commit(self, call: CallState, job: AsrJob, commit: Commit, now: float) -> None:
        """Stable words of the open segment: their final goes out now."""
        call.finalize(commit.segment_id)
        self.stats.finals += 1
        self.stats.commits += 1
        self._emit(commit_of(job, commit, now))

    def _final(
        self, call: CallState, job: AsrJob, text: str, result: AsrResult | None, now: float
    ) -> None:
        if not call.finalize(job.segment_id) and not text:
            return
        self.stats.finals += 1
        self._emit(final_of(job, text, result, now))
