"""In-band DTMF detection: Goertzel filters on one party's telephone audio.

:class:`DtmfDetector` is told PCM and its sample index on the call clock and
returns each keyed digit as a :class:`KeyedDigit` once the key is released.
It slides a window of ``window_ms`` (25.6 ms: the classic 205 samples at 8 kHz)
by ``hop_ms`` and evaluates each of the eight DTMF frequencies at its nominal
value and ``detune`` either side (Goertzel filters, done as one matrix product;
a tone's power is its best probe).  A window holds a digit when the ITU
Q.24 style checks pass: the strongest low and high tone are each above
``min_tone_dbfs``, the twist between them is within ``normal_twist_db`` (high
louder) / ``reverse_twist_db`` (low louder), each beats the other tones of its
group by ``relative_peak_db``, and the two together carry ``min_tone_ratio`` of
the window's energy (speech, music and noise spread theirs; a tone more than
about 3.5 % off frequency loses it too).  A digit needs ``min_tone_ms`` of such
windows, survives dropouts of up to ``max_dropout_ms`` (debounce) and ends at
a longer pause or another digit.  Confirmed tones are kept as sample spans
(:meth:`DtmfDetector.tone_spans`) so the stage in front of the VAD can blank
them.  Sans-I/O: no clock, no threads.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from records.frames import pcm_to_float

LOW_HZ = (697.0, 770.0, 852.0, 941.0)
HIGH_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123A", "456B", "789C", "*0#D")  # [low][high]
DETUNE = 0.015  # Q.24: a receiver accepts tones up to 1.5 % off


@dataclass(frozen=True, slots=True)
class DtmfConfig:
    window_ms: float = 25.6  # Goertzel window (205 samples at 8 kHz: ~39 Hz bins)
    hop_ms: int = 10  # window step: the time resolution of starts and ends
    min_tone_ms: int = 40  # a shorter key press is not a digit (Q.24: accept >= 40 ms)
    max_dropout_ms: int = 20  # a gap this short inside a tone does not split the digit
    min_tone_dbfs: float = -36.0  # each tone's level (a full-scale sine is 0 dBFS)
    normal_twist_db: float = 8.0  # high tone louder than the low by at most this
    reverse_twist_db: float = 6.0  # low tone louder than the high by at most this
    relative_peak_db: float = 6.0  # each tone above the others of its group by this
    min_tone_ratio: float = 0.6  # share of the window's energy in the two tones
    guard_ms: int = 10  # blanked on either side of a confirmed tone

    def __post_init__(self) -> None:
        if not 10.0 <= self.window_ms <= 60.0:
            raise ValueError("window_ms must be 10..60")
        if not 1 <= self.hop_ms <= self.window_ms:
            raise ValueError("hop_ms must be 1..window_ms")
        if self.min_tone_ms < 2 * self.hop_ms:
            raise ValueError("min_tone_ms must be >= 2 * hop_ms")
        if min(self.max_dropout_ms, self.guard_ms) < 0:
            raise ValueError("max_dropout_ms and guard_ms must be >= 0")
        if not 0.0 < self.min_tone_ratio <= 1.0:
            raise ValueError("min_tone_ratio must be in (0, 1]")
        if min(self.normal_twist_db, self.reverse_twist_db, self.relative_peak_db) < 0:
            raise ValueError("twist and relative_peak_db must be >= 0")


@dataclass(frozen=True, slots=True)
class KeyedDigit:
    """One key press heard in the audio; ``start``/``end`` in samples on the call clock."""

    digit: str  # 0-9, *, #, A-D
    start: int
    end: int
    sample_rate: int

    @property
    def start_s(self) -> float:
        return self.start / self.sample_rate

    @property
    def end_s(self) -> float:
        return self.end / self.sample_rate


class DtmfDetector:
    """Sans-I/O DTMF detector for one party at one sample rate."""

    def __init__(self, sample_rate: int, config: DtmfConfig | None = None) -> None:
        self.config = cfg = config or DtmfConfig()
        self.sample_rate = sample_rate
        self.window = round(sample_rate * cfg.window_ms / 1000)
        self.hop = max(1, sample_rate * cfg.hop_ms // 1000)
        self.min_windows = max(2, (cfg.min_tone_ms - cfg.hop_ms) // cfg.hop_ms)
        self.max_misses = cfg.max_dropout_ms // cfg.hop_ms
        self.guard = sample_rate * cfg.guard_ms // 1000
        n = np.arange(self.window)
        probes = np.outer(LOW_HZ + HIGH_HZ, (1 - DETUNE, 1.0, 1 + DETUNE)).ravel()
        w = 2 * np.pi * probes / sample_rate
        # one (window, 2 * 8 tones * 3 probes) matrix: cosines, then sines
        self._basis = np.hstack((np.cos(np.outer(n, w)), np.sin(np.outer(n, w)))).astype(np.float32)
        floor = 10 ** (cfg.min_tone_dbfs / 20)
        self._min_power = floor * floor / 2  # mean square of a sine at the floor
        self._twist_hi = 10 ** (cfg.normal_twist_db / 10)
        self._twist_lo = 10 ** (cfg.reverse_twist_db / 10)
        self._peak = 10 ** (cfg.relative_peak_db / 10)
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start: int | None = None  # call-clock index of _buf[0] (a window start)
        self._run: str | None = None  # the digit being keyed
        self._first = self._last = 0  # window starts of its first and last hit
        self._hits = self._misses = 0
        self._spans: deque[list[int]] = deque(maxlen=32)  # confirmed tones: [start, end)
        self.windows = 0
        self.digits = 0

    @property
    def delay(self) -> int:
        """Samples a tone's first sample needs behind the newest input to be known a tone."""
        return self.window + (self.min_windows + self.max_misses) * self.hop + self.guard

    def push(self, pcm: np.ndarray, start: int) -> list[KeyedDigit]:
        """Feed PCM (int16 or float32) whose first sample is ``start`` on the call clock."""
        out: list[KeyedDigit] = []
        if self._buf_start is not None and start != self._buf_start + self._buf.size:
            out.extend(self.flush())  # a discontinuity: the caller should have said gap
        if self._buf_start is None:
            self._buf_start = start
        x = pcm_to_float(pcm)
        buf = np.concatenate((self._buf, x)) if self._buf.size else x
        count = (buf.size - self.window) // self.hop + 1 if buf.size >= self.window else 0
        if count > 0:
            index = np.arange(count)[:, None] * self.hop + np.arange(self.window)
            frames = buf[index]  # (count, window), contiguous
            for k, digit in enumerate(self._classify(frames)):
                out.extend(self._step(digit, self._buf_start + k * self.hop))
            used = count * self.hop
            self._buf = buf[used:].copy()
            self._buf_start += used
        else:
            self._buf = buf.copy()
        return out

    def _classify(self, frames: np.ndarray) -> list[str | None]:
        """The digit each window holds (None: not a DTMF pair), all windows at once."""
        parts = frames @ self._basis
        power = np.square(parts).reshape(len(frames), 2, 24).sum(axis=1)
        power *= 2.0 / self.window**2  # mean square of each probe
        power = power.reshape(len(frames), 8, 3).max(axis=2)  # each tone's best probe
        total = np.einsum("ij,ij->i", frames, frames) / self.window
        self.windows += len(frames)
        rows = np.arange(len(frames))
        lo, hi = power[:, :4], power[:, 4:]
        li, hi_ = lo.argmax(axis=1), hi.argmax(axis=1)
        pl, ph = lo[rows, li], hi[rows, hi_]
        lo_rest = np.where(np.arange(4) == li[:, None], 0.0, lo).max(axis=1)
        hi_rest = np.where(np.arange(4) == hi_[:, None], 0.0, hi).max(axis=1)
        ok = (
            (np.minimum(pl, ph) >= self._min_power)
            & (ph <= pl * self._twist_hi)  # normal twist
            & (pl <= ph * self._twist_lo)  # reverse twist
            & (pl >= lo_rest * self._peak)
            & (ph >= hi_rest * self._peak)
            & (pl + ph >= self.config.min_tone_ratio * total)
        )
        return [KEYPAD[r][c] if k else None for r, c, k in zip(li, hi_, ok, strict=True)]

    def _step(self, digit: str | None, at: int) -> list[KeyedDigit]:
        out: list[KeyedDigit] = []
        if digit is not None and digit == self._run:
            self._hits += 1
            self._last = at
            self._misses = 0
            self._extend()
            return out
        if self._run is not None:
            self._misses += 1
            if digit is None and self._misses <= self.max_misses:
                return out
            out.extend(self._end())
        if digit is not None:
            self._run, self._first, self._last, self._hits, self._misses = digit, at, at, 1, 0
        return out

    def _extend(self) -> None:
        """Record the run's span once it is long enough to be a digit."""
        if self._hits < self.min_windows:
            return
        span = [self._first - self.guard, self._last + self.window + self.guard]
        if self._hits == self.min_windows:
            self._spans.append(span)
        else:
            self._spans[-1][1] = span[1]

    def _end(self) -> list[KeyedDigit]:
        run, self._run = self._run, None
        if run is None or self._hits < self.min_windows:
            return []
        self.digits += 1
        # a window holds a digit once min_tone_ratio (~0.6) of it is tone: place the edges so
        lead = self.window * 2 // 5
        start, end = self._first + lead, self._last + self.window - lead
        return [KeyedDigit(run, start, end, self.sample_rate)]

    def tone_spans(self, start: int, end: int) -> list[tuple[int, int]]:
        """Confirmed tone spans (guard included) that overlap ``[start, end)``."""
        return [(a, b) for a, b in self._spans if a < end and b > start]

    def flush(self) -> list[KeyedDigit]:
        """End of input (or a gap): the tone being keyed ends here."""
        out = self._end()
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start = None
        self._hits = self._misses = 0
        return out

    def reset(self) -> None:
        self.flush()
        self._spans.clear()
