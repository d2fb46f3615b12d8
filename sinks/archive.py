"""The recording archive: each call's audio and transcript on disk, off the audio path.

:class:`Archive` is what the application talks to.  ``push`` (audio frames and
gaps), ``on_event`` (the pipeline's events), ``pause`` and ``resume`` only put
a record on a queue and return at once; one writer thread drives a
:class:`~sinks.recorder.CallRecorder` per call, so a slow or full disk never
blocks the audio or the transcription.  The queue bounds the audio it holds
(``queue_max_items``; policy ``drop_newest_audio``: a full queue refuses the
new frame, counted in ``stats.dropped`` and logged once per episode, and the
files get silence there); events, pauses and resumes are always queued (they
are few, and a lost pause would record what must not be).  Every open file is
flushed at least every ``flush_interval_ms`` of the injected clock; at
:meth:`Archive.start` the files a killed process left unfinished are repaired
(:func:`~sinks.repair.repair`).  With ``redact_audio``, each ``redaction``
event overwrites its party's audio over the masked words with silence, in the
files already written (finals come seconds after their audio).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from records.events import Alert, CallEnded, Dtmf, Event, PartyLeft, Redaction, TranscriptFinal
from records.frames import AudioFrame, Gap

from .archive_config import ArchiveConfig
from .events import RecordingEvent, RecordingPaused, RecordingResumed
from .naming import TemplateError
from .recorder import CallRecorder, Opener, Tally, create_exclusive
from .repair import repair

__all__ = ["Archive", "ArchiveConfig", "ArchiveStats", "TemplateError", "repair"]

log = logging.getLogger(__name__)

OVERFLOW_POLICY = "drop_newest_audio"


@dataclass(frozen=True, slots=True)
class ArchiveStats:
    bytes_written: int
    files: int  # files completed
    errors: int  # failed file operations (each logged; once per call at error level)
    dropped: int  # audio records refused by a full queue (policy drop_newest_audio)
    calls: int  # calls recorded
    repaired: int  # unfinished files repaired at start
    queued: int  # records waiting for the writer thread


@dataclass(frozen=True, slots=True)
class _Flush:
    done: threading.Event


class _Close:
    pass


_Item = AudioFrame | Gap | Event | RecordingEvent | _Flush | _Close


class Archive:
    def __init__(
        self,
        config: ArchiveConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        opener: Opener = create_exclusive,
        redact_audio: bool = False,
    ) -> None:
        self.config = config
        self.redact_audio = redact_audio  # [redaction] redact_audio: silence redacted spans
        self._clock = clock
        self._wall_clock = wall_clock
        self._opener = opener
        self._tally = Tally()
        self._repaired = 0
        self._queue: deque[_Item] = deque()
        self._audio_queued = 0
        self._cond = threading.Condition()
        self._paused: set[str] = set()
        self._dropping = 0  # drops in the current overflow episode
        self._closed = False
        self._recorders: dict[str, CallRecorder] = {}
        self._thread = threading.Thread(target=self._run, name="archive-writer", daemon=True)

    # -- the application's side ------------------------------------------------
    def start(self) -> list[Path]:
        """Repair what a killed process left, start the writer thread; repaired paths."""
        if not self.config.enabled:
            return []
        repaired = repair(self.config.root)
        self._repaired = len(repaired)
        self._thread.start()
        return repaired

    def push(self, item: AudioFrame | Gap) -> bool:
        """Queue one party's audio or gap; False when refused (disabled, closed, full)."""
        if not self.config.enabled:
            return False
        with self._cond:
            if self._closed:
                return False
            if self._audio_queued >= self.config.queue_max_items:
                self._tally.dropped += 1
                self._dropping += 1
                if self._dropping == 1:
                    log.warning(
                        "call %s: archive queue full (%d audio records, policy %s): "
                        "dropping audio, the files get silence",
                        item.call_id,
                        self._audio_queued,
                        OVERFLOW_POLICY,
                    )
                return False
            if self._dropping:
                log.warning("archive queue drains again: %d audio records dropped", self._dropping)
                self._dropping = 0
            self._audio_queued += 1
            self._queue.append(item)
            self._cond.notify()
        return True

    def hides(self, call_id: str) -> bool:
        """Whether this call's transcript is withheld now (paused; ``transcript_while_paused``)."""
        if self.config.transcript_while_paused:
            return False
        with self._cond:
            return call_id in self._paused

    def on_event(self, event: Event) -> None:
        """Take a pipeline event (finals, alerts, redactions, keyed digits, party left and
        call ended matter).

        A final (or its alert or redaction, or a digit keyed) while the call is paused is not
        written (unless ``transcript_while_paused``): pause means the words are not kept either.
        """
        kept = TranscriptFinal | Alert | Redaction | Dtmf
        if isinstance(event, kept) and self.hides(event.call_id):
            return
        if isinstance(event, kept | PartyLeft | CallEnded):
            if isinstance(event, CallEnded):
                with self._cond:
                    self._paused.discard(event.call_id)
            self._put(event)

    def pause(self, call_id: str, at_s: float) -> RecordingPaused | None:
        """Write silence from ``at_s`` (call clock) on; the event, None if already paused."""
        with self._cond:
            if not self.config.enabled or call_id in self._paused:
                return None
            self._paused.add(call_id)
        event = RecordingPaused(call_id, at_s)
        event.to_json()  # its one JSON text, made before the writer thread and the hub share it
        self._put(event)
        return event

    def resume(self, call_id: str, at_s: float) -> RecordingResumed | None:
        """Record again from ``at_s`` on; the event, None if not paused."""
        with self._cond:
            if not self.config.enabled or call_id not in self._paused:
                return None
            self._paused.discard(call_id)
        event = RecordingResumed(call_id, at_s)
        event.to_json()  # its one JSON text, made before the writer thread and the hub share it
        self._put(event)
        return event

    def flush(self, timeout_s: float | None = 10.0) -> bool:
        """Wait until everything queued so far is written and flushed to the OS."""
        if not self.config.enabled or not self._thread.is_alive():
            return False
        done = threading.Event()
        self._put(_Flush(done))
        return done.wait(timeout_s)

    def close(self, timeout_s: float | None = 10.0) -> None:
        """Finish every open call (files padded, closed, renamed) and stop the thread."""
        with self._cond:
            if self._closed:
                return
            self._queue.append(_Close())
            self._closed = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    @property
    def stats(self) -> ArchiveStats:
        t = self._tally
        with self._cond:
            queued = len(self._queue)
        return ArchiveStats(
            t.bytes_written, t.files, t.errors, t.dropped, t.calls, self._repaired, queued
        )

    # -- the writer thread -------------------------------------------------
    def _put(self, item: _Item) -> None:
        with self._cond:
            if self._closed:
                return
            self._queue.append(item)
            self._cond.notify()

    def _run(self) -> None:
        interval_s = self.config.flush_interval_ms / 1000
        while True:
            with self._cond:
                while not self._queue:
                    due = [r.next_flush_s() for r in self._recorders.values()]
                    due_s = min((d for d in due if d is not None), default=None)
                    wait_s = interval_s if due_s is None else due_s - self._clock()
                    if wait_s <= 0:
                        break
                    self._cond.wait(wait_s)
                item = self._queue.popleft() if self._queue else None
                if isinstance(item, AudioFrame | Gap):
                    self._audio_queued -= 1
            if isinstance(item, _Close):
                self._guard(self._finish_all)
                return
            if item is not None:
                self._guard(self._handle, item)
            now = self._clock()
            for recorder in list(self._recorders.values()):
                self._guard(recorder.tick, now)

    def _guard(self, fn: Callable[..., object], *args: object) -> None:
        try:
            fn(*args)
        except Exception:  # the writer thread never dies: count, log, go on
            self._tally.errors += 1
            log.exception("archive writer failed in %s", getattr(fn, "__name__", fn))

    def _handle(self, item: _Item) -> None:
        if isinstance(item, _Flush):
            try:
                now = self._clock()
                for each in self._recorders.values():
                    each.flush(now)
            finally:
                item.done.set()
            return
        if isinstance(item, _Close):
            return
        call_id = item.call_id
        recorder = self._recorders.get(call_id)
        if isinstance(item, CallEnded):
            if recorder is not None:
                del self._recorders[call_id]
                recorder.finish(item)
            return
        if recorder is None:
            recorder = CallRecorder(
                call_id, self.config, self._wall_clock(), self._tally, self._opener,
                self.redact_audio,
            )  # fmt: skip
            recorder.tick(self._clock())
            self._recorders[call_id] = recorder
            self._tally.calls += 1
        if isinstance(item, AudioFrame | Gap):
            recorder.push(item)
        elif isinstance(item, RecordingPaused):
            recorder.pause(item)
        elif isinstance(item, RecordingResumed):
            recorder.resume(item)
        else:
            recorder.on_event(item)

    def _finish_all(self) -> None:
        while self._recorders:
            _, recorder = self._recorders.popitem()
            self._guard(recorder.finish)
