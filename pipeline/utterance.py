"""Streaming commit policy: when to ask the recogniser for partials and finals.

:class:`UtterancePolicy` follows one party's speech segments (from the VAD) and
its 16 kHz audio (from the resampler).  While a segment is open it requests a
partial decode every ``partial_interval_ms`` of new audio (once at least
``min_partial_ms`` is there), and one as soon as the speaker pauses
(``pause_partial_ms``, :meth:`~UtterancePolicy.paused`: a streaming commit cuts
at a pause); when the segment ends it requests the final.
Each decode covers the whole segment so far; the final replaces its partials.
A streaming commit (:mod:`pipeline.commit`) may :meth:`~UtterancePolicy.split`
the open segment: the committed words' part is finalised there and then, and
the rest goes on as a new segment (its jobs carry the :class:`~pipeline.commit.Seam`).
Audio is kept in a bounded buffer of ``max_segment_ms`` plus pre-roll (policy
``drop_oldest_audio``: older audio is only needed by an open segment, which the
VAD cuts at ``max_segment_ms``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from records.frames import AudioFrame

from .commit import Seam
from .jobs import AsrJob, JobKind


@dataclass(frozen=True, slots=True)
class StreamingConfig:
    partial_interval_ms: int = 500
    min_partial_ms: int = 400
    partials: bool = True
    buffer_ms: int = 20000  # must hold max_segment_ms + pre-roll
    # a pause this long inside a segment asks for a partial at once (not at the next
    # interval): a streaming commit cuts at a pause its decode holds; 0: off
    pause_partial_ms: int = 120

    def __post_init__(self) -> None:
        if self.partial_interval_ms < 100:
            raise ValueError("partial_interval_ms must be >= 100")
        if self.min_partial_ms < 0:
            raise ValueError("min_partial_ms must be >= 0")
        if self.buffer_ms < 2000:
            raise ValueError("buffer_ms must be >= 2000")
        if self.pause_partial_ms < 0:
            raise ValueError("pause_partial_ms must be >= 0")


class AudioRing:
    """Bounded float32 buffer addressed by call-clock sample index."""

    def __init__(self, capacity: int) -> None:
        self._buf = np.zeros(capacity, dtype=np.float32)
        self.capacity = capacity
        self.end = 0  # call-clock index after the newest sample
        self.dropped = 0

    @property
    def begin(self) -> int:
        return max(0, self.end - self.capacity)

    def write(self, frame: AudioFrame) -> None:
        pcm = frame.pcm
        if frame.start > self.end:  # hole (a gap): zero it so stale audio never reappears
            self._zero(self.end, frame.start)
        self.end = max(self.end, frame.start)
        start = frame.start
        if pcm.size > self.capacity:
            pcm = pcm[-self.capacity :]
            start = frame.end - self.capacity
        idx = start % self.capacity
        first = min(pcm.size, self.capacity - idx)
        self._buf[idx : idx + first] = pcm[:first]
        self._buf[: pcm.size - first] = pcm[first:]
        self.end = max(self.end, start + pcm.size)

    def _zero(self, a: int, b: int) -> None:
        a = max(a, b - self.capacity)
        for i in range(a, b, self.capacity):
            j = min(b, i + self.capacity)
            ia, n = i % self.capacity, j - i
            first = min(n, self.capacity - ia)
            self._buf[ia : ia + first] = 0
            self._buf[: n - first] = 0

    def read(self, a: int, b: int) -> np.ndarray:
        """Samples [a, b) clipped to what the buffer still holds."""
        if a < self.begin:
            self.dropped += self.begin - a
            a = self.begin
        b = min(b, self.end)
        if b <= a:
            return np.zeros(0, dtype=np.float32)
        ia = a % self.capacity
        n = b - a
        first = min(n, self.capacity - ia)
        if first == n:
            return self._buf[ia : ia + n].copy()
        return np.concatenate((self._buf[ia:], self._buf[: n - first]))


class UtterancePolicy:
    """Turns one party's segments and audio into partial / final ASR jobs."""

    def __init__(
        self,
        call_id: str,
        party: str,
        sample_rate: int = 16000,
        config: StreamingConfig | None = None,
    ) -> None:
        self.call_id = call_id
        self.party = party
        self.sample_rate = sample_rate
        self.config = config or StreamingConfig()
        self.ring = AudioRing(sample_rate * self.config.buffer_ms // 1000)
        self._segment_no = 0
        self._segment_id: str | None = None
        self._seg_start = 0
        self._revision = 0
        self._last_request_end = 0
        self._interval = sample_rate * self.config.partial_interval_ms // 1000
        self._min = sample_rate * self.config.min_partial_ms // 1000
        self._seam: Seam | None = None
        self.partial_words = False  # partials carry word timings (a streaming commit needs them)
        # a commit's rest is finalised from the committed words' onset (their audio as context)
        self.final_from_onset = False

    @property
    def segment_id(self) -> str | None:
        return self._segment_id

    def audio(self, frame: AudioFrame, now_s: float) -> list[AsrJob]:
        self.ring.write(frame)
        return self._partial(self._interval, now_s)

    def paused(self, now_s: float) -> list[AsrJob]:
        """The speaker paused (``pause_partial_ms``): a partial of the segment so far now,
        unless one already covers nearly all of it."""
        return self._partial(self._interval // 5, now_s)

    def _partial(self, new: int, now_s: float) -> list[AsrJob]:
        """A partial of the open segment, once it holds ``min_partial_ms`` and ``new``
        samples came since the last request."""
        if self._segment_id is None or not self.config.partials:
            return []
        end = self.ring.end
        if end - self._seg_start < self._min or end - self._last_request_end < new:
            return []
        return [self._job(JobKind.PARTIAL, end, now_s)]

    def speech_start(self, start: int) -> None:
        """A segment opened at ``start`` (call-clock samples at this policy's rate)."""
        self._segment_no += 1
        self._segment_id = f"{self.party}-{self._segment_no}"
        self._seg_start = start
        self._revision = 0
        self._last_request_end = start
        self._seam = None

    def split(self, segment_id: str, cut: int, overlap: int, seam: Seam) -> bool:
        """The open ``segment_id`` was finalised up to ``cut`` (samples): its rest
        becomes a new segment, decoded from ``cut - overlap``.  False when that
        segment is no longer the open one (it ended meanwhile)."""
        if self._segment_id is None or segment_id != self._segment_id:
            return False
        self._segment_no += 1
        self._segment_id = f"{self.party}-{self._segment_no}"
        self._seg_start = max(self._seg_start, cut - overlap)
        self._revision = 0
        self._seam = seam
        return True

    def again(self, job: AsrJob, start: int, now_s: float) -> AsrJob | None:
        """``job`` once more, its audio from ``start`` (samples) instead, as a newer
        revision; None when the buffer no longer holds that audio."""
        end = job.start + job.audio.size
        if start < self.ring.begin or start >= end:
            return None
        audio = self.ring.read(start, end)
        return replace(job, revision=job.revision + 1, start=start, audio=audio, requested_at=now_s)

    def speech_end(self, end: int, now_s: float) -> list[AsrJob]:
        if self._segment_id is None:
            return []
        job = self._job(JobKind.FINAL, end, now_s)
        self._segment_id = None
        return [job]

    def _job(self, kind: JobKind, end: int, now_s: float) -> AsrJob:
        assert self._segment_id is not None
        self._revision += 1
        self._last_request_end = end
        first = self._seg_start
        if kind is JobKind.FINAL and self.final_from_onset and self._seam is not None:
            onset = round(self._seam.start * self.sample_rate)
            first = max(self.ring.begin, min(first, onset))
        audio = self.ring.read(first, end)
        start = max(first, end - audio.size)
        return AsrJob(
            self.call_id,
            self.party,
            self._segment_id,
            kind,
            self._revision,
            start,
            audio,
            self.sample_rate,
            now_s,
            words=self.partial_words,
            seam=self._seam,
        )
