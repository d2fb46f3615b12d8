"""Hold music: a speech/music check on the VAD's frames, so music never reaches the decoder.

webrtcvad calls most music speech, and Whisper, handed a segment of hold music,
writes text into it ("Thank you", "Thank you for").  :class:`MusicDetector` is
sans-I/O: it is told each VAD frame (int16 PCM) and says whether that frame is
music.  It looks at the last ``window_ms`` of audio with two of Scheirer and
Slaney's speech/music features: the share of *low-energy frames* (frames below
half the window's mean level; speech has a gap between syllables every few
hundred ms, music hardly ever) and the *persistence* of spectral peaks (a
peak in one frame that is still there, within a bin, in the next; notes hold,
a voice's harmonics glide).  A frame is music when the whole window is
(``max_low_energy``, ``min_persistence``) and the newest ``recent_ms`` of it has at
most one low-energy frame, so music that stops, or a voice that starts with
a pause, is speech again within a frame or two (the VAD's pre-roll keeps the
onset).  Measured on 20 s-per-track windows of all five tracks of Debian's
``asterisk-moh-opsound-wav`` against every speech fixture (three voices,
quick turns, digits, spelled letters): no speech frame called music, and
most music frames caught (sparse, quiet passages are not: they give the VAD
little to call speech).  A voice over music is called music while the
music dominates: ``[vad] music = false`` (``--keep-music``) turns the check off.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

import numpy as np

FFT_HZ = 8000  # spectra are looked at up to 4 kHz, whatever the rate: telephone band
FFT_S = 0.032  # analysis window per frame (32 ms, the frame and a little of the last)
PEAK_DB = 2.0  # a spectral peak stands this far (natural log units) above the frame's median
MAX_SEGMENT_FRAMES = 1000  # levels kept of an open segment (the VAD cuts one at 15 s)
MIN_SEGMENT_FRAMES = 25  # a segment shorter than this is never judged music
PREROLL_FRAMES = 10  # frames before a segment's start that belong to it


class Segment(Enum):
    """What an open segment is, judged as a whole."""

    SPEECH = "speech"
    MAYBE_MUSIC = "maybe_music"  # decoded, but dropped if the model doubts it is speech
    MUSIC = "music"  # not decoded


@dataclass(frozen=True, slots=True)
class MusicConfig:
    enabled: bool = True
    window_ms: int = 1000  # audio one decision looks at
    recent_ms: int = 300  # the newest part of it: at most one low-energy frame there
    max_low_energy: float = 0.1  # music: at most this share of low-energy frames ...
    min_persistence: float = 0.75  # ... and at least this share of spectral peaks held
    # once music, it stays music until a pause or a voice's dips (hysteresis)
    exit_low_energy: float = 0.3  # a window with more low-energy frames is not music ...
    exit_persistence: float = 0.6  # ... nor one with fewer peaks held
    exit_recent: int = 4  # ... nor one whose newest recent_ms has this many low frames
    # a whole segment is music when it meets one of these (max low-energy share, min share of
    # peaks held); measured: no speech segment of 7 voices in 3 languages meets either
    segment_rules: tuple[tuple[float, float], ...] = ((0.12, 0.75), (0.25, 0.83))
    # a segment that only may be music (speech can look like this: es_MX prompts, a reader)
    # is decoded, but a decode of it that the model itself rates likely no speech is dropped
    maybe_rule: tuple[float, float] = (0.3, 0.75)
    maybe_no_speech_prob: float = 0.7  # speech on the fixtures: at most 0.55; music's text 0.86+
    silence: float = 0.1  # a frame below this share of the window's mean level: music stopped
    floor_dbfs: float = -50.0  # a window quieter than this is not judged (silence)

    def __post_init__(self) -> None:
        if not 200 <= self.window_ms <= 5000:
            raise ValueError("music window_ms must be in [200, 5000]")
        if not 0 < self.recent_ms <= self.window_ms:
            raise ValueError("music recent_ms must be in (0, window_ms]")
        if not 0.0 <= self.max_low_energy <= 1.0 or not 0.0 <= self.min_persistence <= 1.0:
            raise ValueError("music max_low_energy and min_persistence must be in [0, 1]")


class MusicDetector:
    """Per-frame speech/music decision for one party's VAD frames, and the same judged
    over a whole segment (:meth:`segment`)."""

    def __init__(self, sample_rate: int, frame_ms: int, config: MusicConfig | None = None) -> None:
        self.config = config or MusicConfig()
        self._frame = sample_rate * frame_ms // 1000
        self._fft = 1 << max(self._frame, round(sample_rate * FFT_S) - 1).bit_length()
        self._hann = np.hanning(self._fft).astype(np.float32)
        self._bins = self._fft * (FFT_HZ // 2) // sample_rate + 1  # up to 4 kHz
        self._mid = self._bins // 2  # the median bin's rank
        n = max(2, self.config.window_ms // frame_ms)
        self._recent = max(1, self.config.recent_ms // frame_ms)
        self._rms: deque[float] = deque(maxlen=n)  # policy drop_oldest: a sliding window
        self._peaks: deque[tuple[int, int]] = deque(maxlen=n)  # (peaks, held from the last)
        self._win_peaks = self._win_held = 0  # their sums
        self._tail = np.zeros(self._fft, dtype=np.float32)
        self._last: np.ndarray | None = None
        self._floor = 32768.0 * 10 ** (self.config.floor_dbfs / 20)
        self._music = False
        # the open segment's frames: levels (bounded: policy drop_oldest) and peak counts
        self._seg_rms: deque[float] = deque(maxlen=MAX_SEGMENT_FRAMES)
        self._seg_peaks = self._seg_held = 0
        self.music_frames = 0

    def push(self, frame: np.ndarray) -> bool:
        """One VAD frame (int16): whether it is music."""
        if not self.config.enabled:
            return False
        x = frame.astype(np.float32)
        level = float(np.sqrt(np.dot(x, x) / x.size)) if x.size else 0.0
        self._rms.append(level)
        self._tail = np.concatenate((self._tail[x.size :], x))[-self._fft :]
        spec = np.log(np.abs(np.fft.rfft(self._tail * self._hann)[: self._bins]) + 1e-3)
        mid = spec[1:-1]
        median = np.partition(spec, self._mid)[self._mid]
        peak = (mid > spec[:-2]) & (mid > spec[2:]) & (mid > median + PEAK_DB)
        held = 0
        if self._last is not None:  # a peak held: in the same bin or one next to it
            near = self._last.copy()
            near[1:] |= self._last[:-1]
            near[:-1] |= self._last[1:]
            held = int(np.count_nonzero(peak & near))
        self._last = peak
        peaks = int(np.count_nonzero(peak))
        if len(self._peaks) == self._peaks.maxlen:
            old_peaks, old_held = self._peaks[0]
            self._win_peaks -= old_peaks
            self._win_held -= old_held
        self._peaks.append((peaks, held))
        self._win_peaks += peaks
        self._win_held += held
        self._seg_rms.append(level)
        self._seg_peaks += peaks
        self._seg_held += held
        self._music = self._judge()
        self.music_frames += self._music
        return self._music

    def _judge(self) -> bool:
        cfg = self.config
        if len(self._rms) < (self._rms.maxlen or 0):
            return False
        rms = self._rms
        mean = sum(rms) / len(rms)
        if mean < self._floor or rms[-1] < cfg.silence * mean:
            return False  # quiet, or the music just stopped
        low = [r < 0.5 * mean for r in rms]
        lef = sum(low) / len(low)
        recent = sum(low[-self._recent :])
        held = self._win_held / self._win_peaks if self._win_peaks else 0.0
        if self._music:  # it stays music until a pause or a voice's dips
            return (
                lef <= cfg.exit_low_energy
                and held >= cfg.exit_persistence
                and (recent < cfg.exit_recent)
            )
        return bool(
            not low[-1]
            and recent <= 1
            and lef <= cfg.max_low_energy
            and held >= cfg.min_persistence
        )

    def start_segment(self) -> None:
        """A segment opens (its pre-roll frames are already in the window): judged anew."""
        keep = list(self._rms)[-PREROLL_FRAMES:]
        self._seg_rms.clear()
        self._seg_rms.extend(keep)
        self._seg_peaks = sum(p for p, _ in list(self._peaks)[-PREROLL_FRAMES:])
        self._seg_held = sum(h for _, h in list(self._peaks)[-PREROLL_FRAMES:])

    def segment(self) -> Segment:
        """The open segment so far, as a whole: music (too few dips in its level and its
        spectral peaks held, ``segment_rules``), maybe music (``maybe_rule``) or speech."""
        cfg = self.config
        if not cfg.enabled or len(self._seg_rms) < MIN_SEGMENT_FRAMES or not self._seg_peaks:
            return Segment.SPEECH
        rms = np.fromiter(self._seg_rms, dtype=np.float32)
        lef = np.count_nonzero(rms < 0.5 * rms.mean()) / rms.size
        held = self._seg_held / self._seg_peaks
        if any(lef <= low and held >= kept for low, kept in cfg.segment_rules):
            return Segment.MUSIC
        low, kept = cfg.maybe_rule
        return Segment.MAYBE_MUSIC if lef <= low and held >= kept else Segment.SPEECH

    def reset(self) -> None:
        """Audio is missing: the window starts over."""
        self._rms.clear()
        self._peaks.clear()
        self._win_peaks = self._win_held = 0
        self._tail[:] = 0
        self._last = None
        self._music = False
