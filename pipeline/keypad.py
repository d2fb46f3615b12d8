"""Keyed digits of one party: in-band tones kept out of the ASR, RFC 4733 merged in.

:class:`Keypad` sits between the timeline and the resampler.  It runs a
:class:`~pipeline.dtmf.DtmfDetector` on the party's audio and holds the audio
back by the detector's :attr:`~pipeline.dtmf.DtmfDetector.delay` (86 ms by default),
so that a tone's samples are already known to be a tone when they move on:
they leave as silence, and the VAD and the decoder never hear a key press
(whisper otherwise writes "Beep beep be").  Digits told by the signalling
(:meth:`Keypad.told`, RFC 4733 telephone-events) join the in-band ones; one key
press heard both ways is reported once, by whichever way came first.  Output
order and call-clock positions are unchanged; a :class:`~records.frames.Gap`
or :meth:`flush` releases everything held.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np

from records.frames import AudioFrame, Gap

from .dtmf import DtmfConfig, DtmfDetector, KeyedDigit


class DigitSource(Enum):
    INBAND = "inband"  # tones heard in the party's audio
    RFC4733 = "rfc4733"  # RTP telephone-events


@dataclass(frozen=True, slots=True)
class Digit:
    """One key press to report; ``start``/``end`` in seconds on the call clock."""

    digit: str
    start: float
    end: float
    source: DigitSource


DUPLICATE_SLACK_S = 0.25  # one press heard both ways: its two spans overlap within this


class Keypad:
    """One party's keyed digits; sans-I/O like the stages around it."""

    def __init__(self, sample_rate: int, config: DtmfConfig | None = None) -> None:
        self.sample_rate = sample_rate
        self.detector = DtmfDetector(sample_rate, config)
        self._held: deque[AudioFrame] = deque()  # audio not yet released, in order
        self._held_samples = 0
        # found since the last take(); policy drop_oldest_digit if nobody takes them
        self._digits: deque[Digit] = deque(maxlen=256)
        # reported digits that may still meet their twin from the other source; policy:
        # the oldest is forgotten first (a twin never comes seconds later)
        self._recent: deque[tuple[Digit, bool]] = deque(maxlen=16)  # (digit, twin seen)
        self.blanked_samples = 0
        self.duplicates = 0

    def push(self, item: AudioFrame | Gap) -> list[AudioFrame | Gap]:
        """Audio in; audio out (later, tones silenced)."""
        if isinstance(item, Gap):
            return [*self.flush(), item]
        self._heard(self.detector.push(item.pcm, item.start))
        self._held.append(item)
        self._held_samples += item.samples
        return list(self._release(self._held_samples - self.detector.delay))

    def flush(self) -> list[AudioFrame]:
        """End of input (or a gap): the open tone ends, all held audio leaves."""
        self._heard(self.detector.flush())
        return self._release(self._held_samples)

    def take(self) -> list[Digit]:
        """The digits reported since the last call."""
        out = list(self._digits)
        self._digits.clear()
        return out

    def told(self, digit: str, start_s: float, end_s: float, source: DigitSource) -> None:
        """A digit from the signalling; reported unless the audio already gave it."""
        self._report(Digit(digit, start_s, end_s, source))

    def _heard(self, keyed: list[KeyedDigit]) -> None:
        for k in keyed:
            self._report(Digit(k.digit, k.start_s, k.end_s, DigitSource.INBAND))

    def _report(self, digit: Digit) -> None:
        for i, (seen, twin) in enumerate(self._recent):
            if (
                not twin
                and seen.digit == digit.digit
                and seen.source is not digit.source
                and seen.start - DUPLICATE_SLACK_S < digit.end
                and digit.start < seen.end + DUPLICATE_SLACK_S
            ):
                self._recent[i] = (seen, True)
                self.duplicates += 1
                return
        self._recent.append((digit, False))
        self._digits.append(digit)

    def _release(self, count: int) -> list[AudioFrame]:
        out: list[AudioFrame] = []
        while count > 0 and self._held:
            frame = self._held[0]
            if frame.samples > count:  # split: the rest waits
                head = replace(frame, pcm=frame.pcm[:count])
                self._held[0] = replace(frame, start=frame.start + count, pcm=frame.pcm[count:])
                frame = head
            else:
                self._held.popleft()
            count -= frame.samples
            self._held_samples -= frame.samples
            out.append(self._blank(frame))
        return out

    def _blank(self, frame: AudioFrame) -> AudioFrame:
        spans = self.detector.tone_spans(frame.start, frame.end)
        if not spans:
            return frame
        pcm = frame.pcm.copy()  # frames from the device are read-only views
        for a, b in spans:
            lo, hi = max(a, frame.start) - frame.start, min(b, frame.end) - frame.start
            pcm[lo:hi] = 0
            self.blanked_samples += hi - lo
        return replace(frame, pcm=np.ascontiguousarray(pcm))
