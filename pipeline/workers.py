"""A small pool of threads serving the ASR :class:`~pipeline.jobs.JobQueue`.

One model is shared by every stream; each worker thread takes the next job
(finals first) and runs the engine, which releases the GIL while CTranslate2
works, so ``n`` workers decode ``n`` utterances at once.  One worker per core is
the measured sweet spot.  Results go to a handler called on the worker thread;
the handler must not block (hand over to an event loop with
``loop.call_soon_threadsafe``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .asr import MUSIC, AsrEngine, AsrResult
from .jobs import AsrJob, JobQueue

log = logging.getLogger(__name__)

ResultHandler = Callable[[AsrJob, AsrResult | None], None]


class AsrWorkerPool:
    def __init__(
        self,
        engine: AsrEngine,
        handler: ResultHandler,
        workers: int = 2,
        max_pending_finals: int = 64,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.engine = engine
        self.handler = handler
        self.queue = JobQueue(max_pending_finals)
        self._cond = threading.Condition()
        self._busy = 0
        self._closed = False
        self.decode_seconds = 0.0
        self.decodes = 0
        self.errors = 0
        self._threads = [
            threading.Thread(target=self._run, name=f"asr-{i}", daemon=True) for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    def submit(self, job: AsrJob, first: bool = False) -> None:
        """Queue a job (``first``: before its stream's other finals); raises
        :class:`~pipeline.jobs.QueueFull` for a refused final."""
        with self._cond:
            self.queue.push(job, first)
            self._cond.notify()

    def drop_stream(self, call_id: str, party: str | None = None) -> None:
        with self._cond:
            self.queue.drop_stream(call_id, party)

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self.queue) + self._busy

    @property
    def pending_finals(self) -> int:
        with self._cond:
            return self.queue.pending_finals

    def waiting_finals(self) -> tuple[AsrJob | None, int]:
        """The oldest waiting final and how many wait (decodes under way not counted)."""
        with self._cond:
            return self.queue.oldest_final, self.queue.pending_finals

    def wait_below(self, finals: int, timeout: float | None = None) -> bool:
        """Block until fewer than ``finals`` finals wait (back-pressure for offline feeds)."""
        with self._cond:
            return self._cond.wait_for(lambda: self.queue.pending_finals < finals, timeout)

    def wait_idle(self, timeout: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not len(self.queue) and not self._busy, timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=30)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or self.queue.ready())
                if self._closed:
                    return
                job = self.queue.pop()
                if job is None:
                    continue
                self._busy += 1
            result: AsrResult | None = None
            t0 = time.perf_counter()
            try:
                words = job.words or job.kind == "final"
                result = (
                    MUSIC
                    if job.music
                    else self.engine.transcribe(
                        job.audio, word_timestamps=words, partial=job.kind == "partial"
                    )
                )
                if job.music_like and result.no_speech_prob > job.music_like:
                    result = MUSIC  # the model doubts it is speech, in what may be music
            except Exception:
                self.errors += 1
                log.exception("call %s: decode of %s failed", job.call_id, job.segment_id)
            self.decode_seconds += time.perf_counter() - t0
            self.decodes += 1
            try:
                self.handler(job, result)
            except Exception:
                log.exception("call %s: result handler failed", job.call_id)
            finally:
                with self._cond:
                    self.queue.done(job)
                    self._busy -= 1
                    self._cond.notify_all()
