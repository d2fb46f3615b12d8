"""Keep one party's audio continuous on the call clock.

:class:`PartyTimeline` takes frames as they arrive (possibly late, overlapping or
with holes) and yields a strictly contiguous sequence: short holes are filled
with silence (packet-loss concealment for the VAD and ASR), long holes become an
explicit :class:`~records.frames.Gap`, and audio that overlaps what was already
emitted is trimmed and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from records.frames import AudioFrame, BadFrame, Gap


@dataclass(frozen=True, slots=True)
class TimelineConfig:
    fill_gap_ms: int = 200  # holes up to this are filled with silence
    """Longer holes are reported as a Gap (the segment ends, stages skip ahead)."""

    def __post_init__(self) -> None:
        if self.fill_gap_ms < 0:
            raise ValueError("fill_gap_ms must be >= 0")


@dataclass(slots=True)
class TimelineStats:
    frames: int = 0
    filled_samples: int = 0
    gap_samples: int = 0
    late_samples_dropped: int = 0
    rejected_frames: int = 0


class PartyTimeline:
    """Turns arriving frames of one party into contiguous audio and gaps."""

    def __init__(self, sample_rate: int, config: TimelineConfig | None = None) -> None:
        self.sample_rate = sample_rate
        self.config = config or TimelineConfig()
        self.position: int | None = None  # next expected sample on the call clock
        self.stats = TimelineStats()
        self._fill_limit = self.config.fill_gap_ms * sample_rate // 1000

    def push(self, frame: AudioFrame) -> list[AudioFrame | Gap]:
        if frame.sample_rate != self.sample_rate:
            self.stats.rejected_frames += 1
            raise BadFrame(
                f"party {frame.party!r}: frame at {frame.sample_rate} Hz on a "
                f"{self.sample_rate} Hz timeline"
            )
        self.stats.frames += 1
        out: list[AudioFrame | Gap] = []
        position = 0 if self.position is None else self.position
        if frame.end <= position:
            self.stats.late_samples_dropped += frame.samples
            return out
        if frame.start < position:  # overlap: keep only the new tail
            cut = position - frame.start
            self.stats.late_samples_dropped += cut
            frame = AudioFrame(
                frame.call_id, frame.party, frame.sample_rate, position, frame.pcm[cut:]
            )
        hole = frame.start - position
        if hole > 0:
            if hole <= self._fill_limit:
                self.stats.filled_samples += hole
                silence = np.zeros(hole, dtype=frame.pcm.dtype)
                out.append(
                    AudioFrame(frame.call_id, frame.party, frame.sample_rate, position, silence)
                )
            else:
                self.stats.gap_samples += hole
                out.append(Gap(frame.call_id, frame.party, frame.sample_rate, position, hole))
        out.append(frame)
        self.position = frame.end
        return out

    def reset(self) -> None:
        self.position = None
