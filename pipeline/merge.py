"""Channel merge: one call timeline across parties.

:class:`TranscriptMerger` keeps a call's finals and gives them back in
chronological order across parties (``release`` hands out only what can no
longer be preceded by a later final, for live printing).
:class:`ChannelMerger` aligns the parties' PCM on the call clock into
multi-channel blocks (one channel per party, silence where a party is absent or
its audio is missing), which the archiver writes as one stereo file.  A party
that falls more than ``max_skew_ms`` behind the others is padded with silence
(policy ``pad_lagging_party``) so one stalled stream never holds the others'
audio in memory without bound.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from records.events import TranscriptFinal
from records.frames import AudioFrame, Gap, pcm_to_int16


class TranscriptMerger:
    def __init__(self) -> None:
        self._finals: list[TranscriptFinal] = []
        self._keys: list[tuple[float, str]] = []
        self._released: set[str] = set()

    def push(self, final: TranscriptFinal) -> None:
        key = (final.start, final.segment_id)
        i = bisect.bisect(self._keys, key)
        self._keys.insert(i, key)
        self._finals.insert(i, final)

    def release(self, upto_s: float) -> list[TranscriptFinal]:
        """Finals starting before ``upto_s`` not yet released, chronologically.

        A final that arrives after later text was released comes out on the next
        call (live output never waits for a straggler).
        """
        i = bisect.bisect_left(self._keys, (upto_s, ""))
        out = [f for f in self._finals[:i] if f.segment_id not in self._released]
        self._released.update(f.segment_id for f in out)
        return out

    def transcript(self) -> list[TranscriptFinal]:
        return list(self._finals)


@dataclass(frozen=True, slots=True)
class MultiChannelBlock:
    start: int  # call-clock sample index at sample_rate
    sample_rate: int
    parties: tuple[str, ...]  # channel order
    pcm: np.ndarray  # int16, shape (samples, channels)


@dataclass(slots=True)
class _Lane:
    chunks: list[np.ndarray]
    end: int  # call-clock index after the newest buffered sample
    done: bool = False


class ChannelMerger:
    def __init__(self, sample_rate: int, parties: tuple[str, ...], max_skew_ms: int = 2000) -> None:
        if not parties:
            raise ValueError("ChannelMerger needs at least one party")
        self.sample_rate = sample_rate
        self.parties = tuple(parties)
        self.max_skew = sample_rate * max_skew_ms // 1000
        self.position = 0  # call-clock index of the next block
        self._lanes = {p: _Lane([], 0) for p in self.parties}
        self.padded_samples = 0
        self.ignored_frames = 0

    def push(self, item: AudioFrame | Gap) -> list[MultiChannelBlock]:
        lane = self._lanes.get(item.party)
        if lane is None or lane.done or item.sample_rate != self.sample_rate:
            self.ignored_frames += 1
            return []
        if item.end <= lane.end or item.end <= self.position:
            return []
        start = max(item.start, lane.end, self.position)
        if start > lane.end:
            self._append(lane, np.zeros(start - max(lane.end, self.position), np.int16), start)
        if isinstance(item, Gap):
            self._append(lane, np.zeros(item.end - start, np.int16), item.end)
        else:
            self._append(lane, pcm_to_int16(item.pcm[start - item.start :]), item.end)
        return self._drain()

    def end_party(self, party: str) -> list[MultiChannelBlock]:
        if party in self._lanes:
            self._lanes[party].done = True
        return self._drain()

    def flush(self) -> list[MultiChannelBlock]:
        """End of call: emit everything buffered, padding shorter lanes with silence."""
        for lane in self._lanes.values():
            lane.done = True
        end = max(lane.end for lane in self._lanes.values())
        return self._emit_to(end)

    def _append(self, lane: _Lane, pcm: np.ndarray, end: int) -> None:
        if lane.end < self.position:
            lane.end = self.position
        if pcm.size:
            lane.chunks.append(pcm)
        lane.end = end

    def _drain(self) -> list[MultiChannelBlock]:
        live = [lane.end for lane in self._lanes.values() if not lane.done]
        if not live:
            return self._emit_to(max(lane.end for lane in self._lanes.values()))
        target = min(live)
        newest = max(lane.end for lane in self._lanes.values())
        if newest - target > self.max_skew:
            target = newest - self.max_skew
            for lane in self._lanes.values():
                if not lane.done and lane.end < target:
                    self.padded_samples += target - lane.end
                    self._append(
                        lane, np.zeros(target - max(lane.end, self.position), np.int16), target
                    )
        return self._emit_to(target)

    def _emit_to(self, target: int) -> list[MultiChannelBlock]:
        n = target - self.position
        if n <= 0:
            return []
        out = np.zeros((n, len(self.parties)), dtype=np.int16)
        for ch, party in enumerate(self.parties):
            lane = self._lanes[party]
            buf = np.concatenate(lane.chunks) if lane.chunks else np.zeros(0, np.int16)
            lane_start = lane.end - buf.size  # call-clock index of buf[0]
            a = max(self.position, lane_start)
            b = min(target, lane.end)
            if b > a:
                out[a - self.position : b - self.position, ch] = buf[
                    a - lane_start : b - lane_start
                ]
            rest = buf[max(0, target - lane_start) :]
            lane.chunks = [rest] if rest.size else []
        block = MultiChannelBlock(self.position, self.sample_rate, self.parties, out)
        self.position = target
        return [block]
