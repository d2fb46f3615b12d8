"""Feed recorded audio through the live pipeline, at call pace or as fast as it goes.

This is the I/O edge for files: it reads WAVs (any rate or format soundfile
reads), cuts them into 20 ms frames on one call clock and pushes them into a
:class:`~pipeline.runtime.Pipeline`.  With ``realtime`` the frames go out at
the pace of a live call (the wall clock is read here, never in the pipeline);
otherwise they go as fast as the ASR workers take them, with back-pressure on
pending finals so nothing is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from pipeline.runtime import Pipeline
from records.frames import AudioFrame, mix_int16, pcm_to_int16
from records.kinds import MIXED_LABEL, StreamKind

FRAME_MS = 20


class InputError(Exception):
    """A file that cannot be used as a party's audio; the message says why."""


@dataclass(frozen=True, slots=True)
class PartyAudio:
    party: str
    sample_rate: int
    pcm: np.ndarray  # int16 mono
    kind: StreamKind = StreamKind.PARTY  # MIXED: the whole call, diarized

    @property
    def duration_s(self) -> float:
        return self.pcm.size / self.sample_rate


def load_party(party: str, path: str | Path, kind: StreamKind = StreamKind.PARTY) -> PartyAudio:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        audio, rate = sf.read(str(path), dtype="int16", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as err:
        raise InputError(f"{path}: unreadable audio ({err})") from err
    if audio.shape[1] != 1:
        raise InputError(f"{path}: {audio.shape[1]} channels; each party needs a mono file")
    if audio.shape[0] == 0:
        raise InputError(f"{path}: no audio")
    return PartyAudio(party, int(rate), np.ascontiguousarray(audio[:, 0]), kind)


def mix_parties(parties: list[PartyAudio], label: str = MIXED_LABEL) -> PartyAudio:
    """Sum parties on one call clock into one mono stream, as a mixed listen-in delivers."""
    rates = {p.sample_rate for p in parties}
    if len(rates) != 1:
        raise InputError(f"parties to mix must share one sample rate, got {sorted(rates)}")
    return PartyAudio(label, rates.pop(), mix_int16([p.pcm for p in parties]), StreamKind.MIXED)


def frames(call_id: str, parties: list[PartyAudio], frame_ms: int = FRAME_MS):  # type: ignore[no-untyped-def]
    """Yield ``(t_s, frame)`` for all parties interleaved in call-clock order."""
    steps = []
    for p in parties:
        n = p.sample_rate * frame_ms // 1000
        for a in range(0, p.pcm.size, n):
            steps.append((a / p.sample_rate, p, a, n))
    steps.sort(key=lambda s: (s[0], s[1].party))
    for t, p, a, n in steps:
        pcm = pcm_to_int16(p.pcm[a : a + n])
        yield t, AudioFrame(call_id, p.party, p.sample_rate, a, pcm, p.kind)


def replay(
    pipeline: Pipeline,
    call_id: str,
    parties: list[PartyAudio],
    *,
    realtime: bool,
    progress: Callable[[float, float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    tap: Callable[[AudioFrame], None] | None = None,
) -> None:
    """Push every party's audio, end the call and wait for its last final.

    ``tap`` also gets every frame (the recording archive, level meters).
    """
    total = max(p.duration_s for p in parties)
    started = clock()
    last_report = -1.0
    backlog = max(2, pipeline.config.asr_workers * 2)
    for t, frame in frames(call_id, parties):
        if realtime:
            due = started + t
            delay = due - clock()
            if delay > 0:
                sleep(delay)
        else:
            pipeline.pool.wait_below(backlog)
        pipeline.push(frame)
        if tap is not None:
            tap(frame)
        if progress is not None and t - last_report >= 0.5:
            last_report = t
            progress(t, total)
    for p in parties:
        pipeline.end_party(call_id, p.party)
    pipeline.pool.wait_idle()
    pipeline.end_call(call_id)
    pipeline.pool.wait_idle()
    if progress is not None:
        progress(total, total)
