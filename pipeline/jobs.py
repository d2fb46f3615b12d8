"""ASR work items and the bounded queue that orders them.

:class:`JobQueue` is sans-I/O: finals are served first (FIFO) and are never
dropped silently; partials are served oldest-request first and each stream keeps
at most one pending partial, the newest (policy ``replace_stale_partial``): a
partial that a newer partial or its segment's final has overtaken is skipped,
never queued.  A stream's finals are decoded one at a time, in order (policy
``one_final_per_stream``): with several workers a short final could otherwise
overtake a long one of the same speaker, and whatever reads a party's finals in
order (the card redaction holding digits for the next final) would see them
swapped.  Past ``max_finals`` pending finals a new final is refused
(policy ``reject_final_when_full``) and counted, so memory stays bounded even if
the machine cannot keep up.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from .commit import Seam
from .turns import SpeakerTurn


class JobKind(StrEnum):
    PARTIAL = "partial"
    FINAL = "final"


@dataclass(frozen=True, slots=True)
class AsrJob:
    call_id: str
    party: str
    segment_id: str
    kind: JobKind
    revision: int  # increases with every request for the segment
    start: int  # first sample of ``audio`` on the call clock at ``sample_rate``
    audio: np.ndarray  # float32 mono
    sample_rate: int
    requested_at: float  # s on the call clock when the job was queued
    speakers: tuple[SpeakerTurn, ...] = ()  # a mixed stream's final: who spoke when
    words: bool = False  # word timings wanted (always for a final)
    seam: Seam | None = None  # the segment is the rest of a commit: drop what precedes it
    music: bool = False  # the VAD judged the segment hold music: not decoded (no text)
    music_like: float = 0.0  # > 0: may be music; a decode more likely no speech is dropped

    @property
    def stream(self) -> tuple[str, str]:
        return (self.call_id, self.party)

    @property
    def start_s(self) -> float:
        return self.start / self.sample_rate

    @property
    def end_s(self) -> float:
        return (self.start + self.audio.size) / self.sample_rate


@dataclass(slots=True)
class QueueStats:
    finals_queued: int = 0
    partials_queued: int = 0
    partials_replaced: int = 0
    partials_dropped_for_final: int = 0
    finals_rejected: int = 0


class QueueFull(Exception):
    """A final was refused because ``max_finals`` are already waiting."""


class JobQueue:
    def __init__(self, max_finals: int = 64) -> None:
        if max_finals < 1:
            raise ValueError("max_finals must be >= 1")
        self.max_finals = max_finals
        self._finals: deque[AsrJob] = deque()
        self._partials: dict[tuple[str, str], AsrJob] = {}
        self._decoding: set[tuple[str, str]] = set()  # streams with a final being decoded
        self.stats = QueueStats()

    def __len__(self) -> int:
        return len(self._finals) + len(self._partials)

    @property
    def pending_finals(self) -> int:
        return len(self._finals)

    @property
    def oldest_final(self) -> AsrJob | None:
        """The final that has waited longest (served next), or None."""
        return self._finals[0] if self._finals else None

    def push(self, job: AsrJob, first: bool = False) -> None:
        """Queue ``job``; ``first``: a final that must go before its stream's queued ones
        (the same final decoded again)."""
        if job.kind is JobKind.FINAL:
            if len(self._finals) >= self.max_finals:
                self.stats.finals_rejected += 1
                raise QueueFull(f"{len(self._finals)} finals pending; {job.segment_id} refused")
            if self._partials.pop(job.stream, None) is not None:
                self.stats.partials_dropped_for_final += 1
            if first:
                self._finals.appendleft(job)
            else:
                self._finals.append(job)
            self.stats.finals_queued += 1
            return
        if self._partials.pop(job.stream, None) is not None:
            self.stats.partials_replaced += 1
        self._partials[job.stream] = job
        self.stats.partials_queued += 1

    def ready(self) -> bool:
        """Whether :meth:`pop` has a job to give."""
        return bool(self._partials) or any(j.stream not in self._decoding for j in self._finals)

    def pop(self) -> AsrJob | None:
        """The next job: the oldest final of a stream with no final being decoded, else the
        oldest partial.  A final popped must be handed back to :meth:`done`."""
        for i, job in enumerate(self._finals):
            if job.stream not in self._decoding:
                del self._finals[i]
                self._decoding.add(job.stream)
                return job
        if not self._partials:
            return None
        oldest = min(self._partials.values(), key=lambda j: j.requested_at)
        del self._partials[oldest.stream]
        return oldest

    def done(self, job: AsrJob) -> None:
        """A popped job was decoded and handled: its stream's next final may go."""
        if job.kind is JobKind.FINAL:
            self._decoding.discard(job.stream)

    def drop_stream(self, call_id: str, party: str | None = None) -> None:
        """Forget pending partials of a call (or one party) that has gone."""
        for key in [k for k in self._partials if k[0] == call_id and party in (None, k[1])]:
            del self._partials[key]
