"""Voice-activity segmentation with webrtcvad.

:class:`VadSegmenter` is told PCM and its sample index; it cuts the audio into
VAD frames, classifies them with webrtcvad and emits :class:`SpeechStart` /
:class:`SpeechEnd` records with sample indices on the call clock.  A segment
starts when ``start_frames`` of the last ``start_window`` frames are voiced (the
start is moved back by ``preroll_ms``), ends after ``hangover_ms`` of non-speech,
and is cut at ``max_segment_ms`` (a new segment starts right away if speech goes
on).  Past ``soft_max_ms`` a segment already ends at the first pause of
``soft_pause_ms`` (a breath between phrases), so long monologues are split
between words rather than through one at the hard limit.  :meth:`VadSegmenter.pauses`
lists the open segment's pauses of at least ``pause_ms`` (the streaming commit
cuts after stable words that end at one).  Mode 3 is the
default: the measured robust choice on noisy 8 kHz audio.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import webrtcvad

from .music import MusicConfig, MusicDetector, Segment

VAD_RATES = (8000, 16000, 32000, 48000)
MAX_PAUSES = 32  # pauses kept per open segment (the oldest go first)


@dataclass(frozen=True, slots=True)
class VadConfig:
    mode: int = 3
    frame_ms: int = 20
    preroll_ms: int = 200
    hangover_ms: int = 500
    start_frames: int = 3
    start_window: int = 5
    max_segment_ms: int = 15000
    soft_max_ms: int = 8000  # past this, a pause of soft_pause_ms ends the segment
    soft_pause_ms: int = 240  # 150 ms split "five" at its unvoiced "f" and lost the word
    pause_ms: int = 100  # a pause this long inside a segment is listed by pauses()
    tail_ms: int = 150  # audio kept after the last voiced frame
    # ... and after the last frame of the closing pause still this far above the pause's
    # quietest one: webrtcvad can call a soft last word unvoiced ("for them" lost "them"
    # where line noise under it was louder); 0 keeps only the tail
    trail_db: float = 10.0
    energy_floor_dbfs: float = -50.0  # frames quieter than this are never speech
    music: MusicConfig = field(default_factory=MusicConfig)  # hold music is not speech

    def __post_init__(self) -> None:
        if self.mode not in (0, 1, 2, 3):
            raise ValueError(f"vad mode must be 0-3, got {self.mode}")
        if self.frame_ms not in (10, 20, 30):
            raise ValueError(f"vad frame_ms must be 10, 20 or 30, got {self.frame_ms}")
        if not 1 <= self.start_frames <= self.start_window:
            raise ValueError("need 1 <= start_frames <= start_window")
        for name in ("preroll_ms", "hangover_ms", "tail_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.max_segment_ms < 1000:
            raise ValueError("max_segment_ms must be >= 1000")
        if self.soft_max_ms < 1000:
            raise ValueError("soft_max_ms must be >= 1000 (above max_segment_ms: never soft)")
        if not self.frame_ms <= self.soft_pause_ms <= self.hangover_ms:
            raise ValueError("need frame_ms <= soft_pause_ms <= hangover_ms")
        if not self.frame_ms <= self.pause_ms <= self.hangover_ms:
            raise ValueError("need frame_ms <= pause_ms <= hangover_ms")
        if self.tail_ms > self.hangover_ms:
            raise ValueError("tail_ms must not exceed hangover_ms")
        if self.trail_db < 0:
            raise ValueError("trail_db must be >= 0")


@dataclass(frozen=True, slots=True)
class SpeechStart:
    start: int  # sample index on the call clock (preroll included)
    voiced_at: int  # first voiced frame of the trigger


@dataclass(frozen=True, slots=True)
class SpeechEnd:
    start: int
    end: int  # sample index after the last kept sample (tail included)
    cut: bool = False  # True when max_segment_ms forced the end
    music: bool = False  # the segment as a whole was music (pipeline.music): not decoded
    music_like: bool = False  # it may be music: a decode the model doubts is speech is dropped


VadEvent = SpeechStart | SpeechEnd


class VadSegmenter:
    """Sans-I/O speech segmenter for one party at one sample rate."""

    def __init__(self, sample_rate: int, config: VadConfig | None = None) -> None:
        # False while the speaker reads out a number (the owner tells): no soft split then,
        # its digits come with pauses and a piece of one or two digits decodes badly
        self.soft_ok = True
        if sample_rate not in VAD_RATES:
            raise ValueError(f"webrtcvad needs one of {VAD_RATES} Hz, got {sample_rate}")
        self.config = config or VadConfig()
        self.sample_rate = sample_rate
        self._vad = webrtcvad.Vad(self.config.mode)
        self.music = MusicDetector(sample_rate, self.config.frame_ms, self.config.music)
        self._frame = sample_rate * self.config.frame_ms // 1000
        self._preroll = sample_rate * self.config.preroll_ms // 1000
        self._hang_frames = max(1, self.config.hangover_ms // self.config.frame_ms)
        self._tail = sample_rate * self.config.tail_ms // 1000
        # sum of squares of an int16 frame at the energy floor
        floor = 32768.0 * 10 ** (self.config.energy_floor_dbfs / 20)
        self._floor_energy = floor * floor * self._frame
        self._max = sample_rate * self.config.max_segment_ms // 1000
        self._soft_max = sample_rate * self.config.soft_max_ms // 1000
        self._soft_frames = max(1, self.config.soft_pause_ms // self.config.frame_ms)
        self._pause_frames = max(1, self.config.pause_ms // self.config.frame_ms)
        self._pauses: deque[tuple[int, int]] = deque(maxlen=MAX_PAUSES)  # policy drop_oldest
        self._last_end = 0  # end of the previous segment: the next never starts before it
        self._pending = np.zeros(0, dtype=np.int16)
        self._pending_start: int | None = None
        self._window: deque[tuple[int, bool]] = deque(maxlen=self.config.start_window)
        self._seg_start: int | None = None
        self._limits_from = 0  # the open segment's soft and hard limits count from here
        self._last_voiced_end = 0
        self._silent_run = 0
        # energy of each frame of the pause going on (policy: the hangover's frames at most)
        self._quiet: deque[float] = deque(maxlen=self._hang_frames)
        self._trail = 10 ** (self.config.trail_db / 10)
        self.frames_classified = 0
        self.voiced_frames = 0

    @property
    def active(self) -> bool:
        return self._seg_start is not None

    @property
    def segment_start(self) -> int | None:
        return self._seg_start

    @property
    def silence_ms(self) -> int:
        """How long the open segment has been silent (0 while voiced or closed)."""
        return self._silent_run * self.config.frame_ms if self._seg_start is not None else 0

    def restart(self, at: int) -> None:
        """The owner finalised the open segment up to ``at`` (a streaming commit): its
        soft and hard limits count from there (what is left is a new utterance)."""
        if self._seg_start is not None:
            self._limits_from = max(self._limits_from, at)

    def pauses(self) -> list[tuple[int, int]]:
        """The open segment's pauses of ``pause_ms`` or more, ``(start, end)`` sample
        indices; one still going on ends at the newest classified audio."""
        out = list(self._pauses)
        if self._seg_start is not None and self._silent_run >= self._pause_frames:
            out.append(
                (self._last_voiced_end, self._last_voiced_end + self._silent_run * self._frame)
            )
        return out

    def push(self, pcm: np.ndarray, start: int) -> list[VadEvent]:
        """Feed int16 PCM whose first sample is ``start`` on the call clock."""
        if pcm.dtype != np.int16:
            raise ValueError(f"VAD needs int16 PCM, got {pcm.dtype}")
        if self._pending_start is None:
            self._pending_start = start
        elif start != self._pending_start + self._pending.size:
            # discontinuity: the caller should have sent a gap; treat it as one
            closed = self.gap(self._pending_start + self._pending.size)
            return closed + self.push(pcm, start)
        buf = np.concatenate((self._pending, pcm)) if self._pending.size else pcm
        n_frames = buf.size // self._frame
        events: list[VadEvent] = []
        base = self._pending_start
        for i in range(n_frames):
            chunk = buf[i * self._frame : (i + 1) * self._frame]
            events.extend(self._classify(chunk, base + i * self._frame))
        used = n_frames * self._frame
        self._pending = buf[used:].copy()
        self._pending_start = base + used
        return events

    def _classify(self, chunk: np.ndarray, at: int) -> list[VadEvent]:
        x = chunk.astype(np.float32)
        music = self.music.push(chunk)
        energy = float(np.dot(x, x))
        voiced = bool(
            not music
            and energy >= self._floor_energy
            and self._vad.is_speech(chunk.tobytes(), self.sample_rate)
        )
        self.frames_classified += 1
        self.voiced_frames += voiced
        end = at + self._frame
        events: list[VadEvent] = []
        if self._seg_start is None:
            self._window.append((at, voiced))
            if sum(v for _, v in self._window) >= self.config.start_frames:
                first = next(a for a, v in self._window if v)
                self._seg_start = max(0, self._last_end, first - self._preroll)
                self._limits_from = self._seg_start
                self._last_voiced_end = end
                self._silent_run = 0
                self._quiet.clear()
                self._window.clear()
                self._pauses.clear()
                self.music.start_segment()
                events.append(SpeechStart(self._seg_start, first))
            return events
        if voiced:
            if self._silent_run >= self._pause_frames:
                self._pauses.append((self._last_voiced_end, at))
            self._last_voiced_end = end
            self._silent_run = 0
            self._quiet.clear()
        else:
            self._silent_run += 1
            self._quiet.append(energy)
        if self._silent_run >= self._hang_frames:
            events.append(self._end(min(end, self._trailing() + self._tail)))
        elif (
            self.soft_ok
            and self._silent_run >= self._soft_frames
            and end - self._limits_from >= self._soft_max
        ):
            # split mid-pause: the next word's unvoiced onset stays with the next segment
            half = self._silent_run * self._frame // 2
            events.append(self._end(self._last_voiced_end + min(self._tail, half)))
        elif end - self._limits_from >= self._max:
            events.append(self._end(end, cut=True))
            if voiced:  # speech goes on: the next segment starts here
                self._seg_start = self._limits_from = end
                self._last_voiced_end = end
                self._pauses.clear()
                self.music.start_segment()
                events.append(SpeechStart(end, end))
        return events

    def _trailing(self) -> int:
        """The end of the closing pause's last frame still ``trail_db`` above its quietest
        (sound the VAD called unvoiced), or of the last voiced frame when there is none."""
        if not self.config.trail_db or not self._quiet:
            return self._last_voiced_end
        loud = max(min(self._quiet) * self._trail, self._floor_energy)
        after = max((i + 1 for i, e in enumerate(self._quiet) if e >= loud), default=0)
        return self._last_voiced_end + after * self._frame

    def _end(self, end: int, cut: bool = False) -> SpeechEnd:
        assert self._seg_start is not None
        heard = self.music.segment()
        music, maybe = heard is Segment.MUSIC, heard is Segment.MAYBE_MUSIC
        event = SpeechEnd(self._seg_start, end, cut, music, maybe)
        self._last_end = end
        self._seg_start = None
        self.soft_ok = True  # a new segment starts free to split
        self._silent_run = 0
        self._quiet.clear()
        self._window.clear()
        self._pauses.clear()
        return event

    def gap(self, at: int) -> list[VadEvent]:
        """Audio is missing from ``at`` on: close any open segment there."""
        events: list[VadEvent] = []
        if self._seg_start is not None:
            events.append(
                self._end(max(self._seg_start, min(at, self._last_voiced_end + self._tail)))
            )
        self._pending = np.zeros(0, dtype=np.int16)
        self._pending_start = None
        self._window.clear()
        self.music.reset()
        return events

    def flush(self) -> list[VadEvent]:
        """End of input: close the open segment at the last voiced audio."""
        end = (self._pending_start or 0) + self._pending.size
        return self.gap(end)

    def reset(self) -> None:
        self.gap(0)
        self._last_end = 0
