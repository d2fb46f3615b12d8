"""Streaming sample-rate conversion (8 kHz telephone audio -> 16 kHz for Whisper).

Wraps libsoxr's streaming resampler.  Output frames keep their place on the call
clock: the output start index is the input start converted to the output rate,
and soxr's filter delay is compensated by the stream itself, so output sample
``k`` corresponds to time ``k / out_rate``.  A :class:`~records.frames.Gap`
flushes the filter and restarts it after the hole.
"""

from __future__ import annotations

import numpy as np
import soxr

from records.frames import AudioFrame, BadFrame, Gap, pcm_to_float, samples_to_rate


class Resampler:
    """One party's streaming resampler; outputs float32 frames at ``out_rate``."""

    def __init__(self, in_rate: int, out_rate: int = 16000, quality: str = "HQ") -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.quality = quality
        self._stream: soxr.ResampleStream | None = None
        self._next_out: int | None = None  # call-clock index of the next output sample
        self._call_id = ""
        self._party = ""

    def _open(self, frame_start: int) -> None:
        if self.in_rate != self.out_rate:
            self._stream = soxr.ResampleStream(
                self.in_rate, self.out_rate, 1, dtype="float32", quality=self.quality
            )
        self._next_out = samples_to_rate(frame_start, self.in_rate, self.out_rate)

    def push(self, item: AudioFrame | Gap) -> list[AudioFrame]:
        if isinstance(item, Gap):
            out = self.flush()
            self._next_out = None
            return out
        if item.sample_rate != self.in_rate:
            raise BadFrame(f"resampler for {self.in_rate} Hz got a {item.sample_rate} Hz frame")
        self._call_id, self._party = item.call_id, item.party
        if self._next_out is None:
            self._open(item.start)
        audio = pcm_to_float(item.pcm)
        if self._stream is not None:
            audio = self._stream.resample_chunk(audio, last=False)
        return self._emit(np.ascontiguousarray(audio, dtype=np.float32))

    def flush(self) -> list[AudioFrame]:
        """End of input (or a gap): drain the filter tail."""
        if self._next_out is None:
            return []
        out: list[AudioFrame] = []
        if self._stream is not None:
            tail = self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            out = self._emit(np.ascontiguousarray(tail, dtype=np.float32))
        self._stream = None
        self._next_out = None
        return out

    def reset(self) -> None:
        self._stream = None
        self._next_out = None

    def _emit(self, audio: np.ndarray) -> list[AudioFrame]:
        if audio.size == 0 or self._next_out is None:
            return []
        frame = AudioFrame(self._call_id, self._party, self.out_rate, self._next_out, audio)
        self._next_out += audio.size
        return [frame]
