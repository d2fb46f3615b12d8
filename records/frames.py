"""Audio records that flow between pipeline stages.

A frame is one party's mono PCM at a stated sample rate, stamped with its
position on the *call clock*: an integer sample index counted from the start of
the call at that rate.  Missing audio (lost packets, a party that joins late, a
hold) is never implied by a jump in timestamps: it travels as an explicit
:class:`Gap`, so every stage stays aligned to the call clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kinds import StreamKind


class PipelineError(Exception):
    """Base of the exceptions raised by pipeline stages."""


class BadFrame(PipelineError):
    """A frame that cannot be used: wrong dtype, rate or shape."""


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """Mono PCM of one party.

    ``pcm`` is int16 (network audio) or float32 in [-1, 1] (resampled audio);
    ``start`` is in samples at ``sample_rate`` on the call clock.
    """

    call_id: str
    party: str
    sample_rate: int
    start: int
    pcm: np.ndarray
    kind: StreamKind = StreamKind.PARTY  # MIXED: the whole call in one stream

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise BadFrame(f"sample rate must be positive, got {self.sample_rate}")
        if self.start < 0:
            raise BadFrame(f"frame start must be >= 0, got {self.start}")
        if self.pcm.ndim != 1:
            raise BadFrame(f"frame must be mono (1-D), got shape {self.pcm.shape}")
        if self.pcm.dtype not in (np.int16, np.float32):
            raise BadFrame(f"frame must be int16 or float32, got {self.pcm.dtype}")

    @property
    def samples(self) -> int:
        return int(self.pcm.shape[0])

    @property
    def end(self) -> int:
        """First sample after this frame, on the call clock."""
        return self.start + self.samples

    @property
    def start_s(self) -> float:
        return self.start / self.sample_rate

    @property
    def end_s(self) -> float:
        return self.end / self.sample_rate


@dataclass(frozen=True, slots=True)
class Gap:
    """A stretch of the call clock where a party's audio is missing."""

    call_id: str
    party: str
    sample_rate: int
    start: int
    samples: int

    @property
    def end(self) -> int:
        return self.start + self.samples


def samples_to_rate(index: int, from_rate: int, to_rate: int) -> int:
    """Convert a sample index between rates, rounding down (exact for 8k<->16k)."""
    return index * to_rate // from_rate


def pcm_to_float(pcm: np.ndarray) -> np.ndarray:
    """int16 PCM -> float32 in [-1, 1]; float32 passes through."""
    if pcm.dtype == np.float32:
        return pcm
    return pcm.astype(np.float32) * (1.0 / 32768.0)


def pcm_to_int16(pcm: np.ndarray) -> np.ndarray:
    """float32 in [-1, 1] -> int16 with clipping; int16 passes through."""
    if pcm.dtype == np.int16:
        return pcm
    return (np.clip(pcm, -1.0, 1.0) * 32767.0).astype(np.int16)


def mix_int16(tracks: list[np.ndarray]) -> np.ndarray:
    """Sum int16 tracks that start together into one, clipped: a mixed listen-in stream."""
    total = np.zeros(max(t.size for t in tracks), dtype=np.int32)
    for t in tracks:
        total[: t.size] += t
    return np.clip(total, -32768, 32767).astype(np.int16)
