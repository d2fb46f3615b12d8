"""Where each sample of a call goes on disk: the sans-I/O core of the archive.

:class:`CallLayout` is told one call's frames, gaps, pauses and party ends and
answers with :class:`Chunk` records: int16 audio (or silence) to write at a
frame offset of the call's files, one mono file per party and one N-channel
file with a channel per party in join order.  Frame offset = sample index on
the call clock, so every file starts at call time 0 and a late join, a jump in
a party's frames or a :class:`~records.frames.Gap` is silence.  At the end
(:meth:`CallLayout.flush`) every file is padded with silence to the call's end.

The N-channel file has one rate: ``stereo_rate_hz``, or by default the highest
rate among the parties present when it opens, once the call clock reaches
``join_window_ms`` (so parties joining together agree); a party with another
rate is resampled with libsoxr (:class:`~pipeline.resample.Resampler`).  Its
blocks go out as far as every present party has audio; a party more than
``max_skew_ms`` behind does not hold the others (policy
``patch_lagging_party``): its channel is written as silence and its audio, when
it comes, is patched into that channel in place (as is the audio of a party
that joins after the file opened; the file is widened first).

While recording is paused, audio is written as silence, so every file stays
aligned on the call clock; audio of the paused stretch already written (the
pause came late) is overwritten with silence.  :meth:`CallLayout.redact`
silences one party over a span (masked card data, ``REDACT_MARGIN_MS`` either
side) the same way: in its mono file and its channel of the N-channel file,
what is written is overwritten, what comes later is masked.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from pipeline.resample import Resampler
from records.frames import AudioFrame, Gap, pcm_to_int16, samples_to_rate

_NONE = np.zeros(0, dtype=np.int16)
BLOCK_S = 1  # longest N-channel block emitted at once, s
REDACT_MARGIN_MS = 200  # silenced before and after a redacted span (word times are rough)
MAX_REDACTED = 64  # spans a lane keeps to mask audio still to come (policy: drop oldest)


class PauseError(ValueError):
    """pause() while paused, resume() while not paused."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """int16 audio for one file of the call, at frame ``offset`` (= call-clock index)."""

    party: str | None  # the party's mono file, or None for the N-channel file
    sample_rate: int  # Hz
    channels: tuple[str, ...]  # the file's channel order ((party,) for a party file)
    offset: int  # frames from the file's start, = call-clock sample index at sample_rate
    pcm: np.ndarray = field(default_factory=lambda: _NONE)  # (frames,) / (frames, channels)
    silence: int = 0  # > 0: this many frames of silence instead of pcm
    channel: int | None = None  # set: pcm (1-D) replaces this channel only (a patch)

    @property
    def frames(self) -> int:
        return self.silence if self.silence else int(self.pcm.shape[0])


@dataclass(slots=True)
class _Lane:
    party: str
    rate: int  # Hz of the party's frames
    channel: int  # index in the N-channel file
    end: int = 0  # party-rate index after its newest audio or gap
    written: int = 0  # party-rate index after the last audio in its mono file
    done: bool = False
    early: list[tuple[int, np.ndarray]] = field(default_factory=list)  # before the file opens
    resampler: Resampler | None = None
    streaming: bool = False  # the resampler holds an open stream
    fed: int = 0  # party-rate index after the last sample fed to the resampler
    segs: deque[tuple[int, np.ndarray]] = field(default_factory=deque)  # not yet in the file
    seg_end: int = 0  # N-channel-rate index after the newest seg
    stereo_end: int = 0  # N-channel-rate index up to which the lane is known
    redacted: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=MAX_REDACTED))


class CallLayout:
    def __init__(
        self,
        call_id: str,
        stereo_rate_hz: int | None = None,
        join_window_ms: int = 500,
        max_skew_ms: int = 2000,
    ) -> None:
        self.call_id = call_id
        self.stereo_rate_hz = stereo_rate_hz
        self.join_window_ms = join_window_ms
        self.max_skew_ms = max_skew_ms
        self.stereo_rate: int | None = None  # set when the N-channel file opens
        self.position = 0  # N-channel frames decided so far
        self.ignored_frames = 0  # frames at a rate other than the party's first
        self.patched_frames = 0  # N-channel frames patched in late (policy patch_lagging_party)
        self._lanes: dict[str, _Lane] = {}
        self._pauses: list[tuple[float, float | None]] = []  # [start_s, end_s) on the call clock

    @property
    def parties(self) -> tuple[str, ...]:
        return tuple(self._lanes)

    @property
    def paused(self) -> bool:
        return bool(self._pauses) and self._pauses[-1][1] is None

    @property
    def end_s(self) -> float:
        """Call-clock time after the newest audio or gap of any party."""
        return max((lane.end / lane.rate for lane in self._lanes.values()), default=0.0)

    # -- input -------------------------------------------------------------
    def push(self, item: AudioFrame | Gap) -> list[Chunk]:
        lane = self._lanes.get(item.party)
        if lane is None:
            lane = self._join(item.party, item.sample_rate)
        elif item.sample_rate != lane.rate:
            self.ignored_frames += 1
            return []
        lane.done = False
        out: list[Chunk] = []
        if isinstance(item, Gap):
            lane.end = max(lane.end, item.end)
            if self.stereo_rate is not None:
                self._stereo_gap(lane)
        else:
            start = max(item.start, lane.end)
            if item.end <= start:
                return []
            pcm = self._mask(pcm_to_int16(item.pcm[start - item.start :]), start, lane.rate, lane)
            lane.end = lane.written = item.end
            out.append(Chunk(lane.party, lane.rate, (lane.party,), start, pcm))
            if self.stereo_rate is not None:
                self._feed(lane, start, pcm)
            else:
                lane.early.append((start, pcm))
        if self.stereo_rate is None and lane.end * 1000 >= self.join_window_ms * lane.rate:
            self._open()
        return out + self._drain()

    def end_party(self, party: str) -> list[Chunk]:
        """The party left: the N-channel file no longer waits for it."""
        lane = self._lanes.get(party)
        if lane is None:
            return []
        lane.done = True
        if self.stereo_rate is not None:
            self._stereo_gap(lane)
        return self._drain()

    def pause(self, at_s: float) -> list[Chunk]:
        """Silence from ``at_s`` on; returns the overwrites of audio already written."""
        if self.paused:
            raise PauseError(f"recording of call {self.call_id} is already paused")
        at_s = max(0.0, at_s)
        self._pauses.append((at_s, None))
        out = []
        for lane in self._lanes.values():
            p = round(at_s * lane.rate)
            if lane.written > p:
                out.append(Chunk(lane.party, lane.rate, (lane.party,), p, silence=lane.written - p))
        if self.stereo_rate is not None:
            p = round(at_s * self.stereo_rate)
            if self.position > p:
                out.append(
                    Chunk(None, self.stereo_rate, self.parties, p, silence=self.position - p)
                )
        return out

    def resume(self, at_s: float) -> None:
        if not self.paused:
            raise PauseError(f"recording of call {self.call_id} is not paused")
        start, _ = self._pauses[-1]
        self._pauses[-1] = (start, max(start, at_s))

    def redact(self, party: str, start_s: float, end_s: float) -> list[Chunk]:
        """Silence ``party`` over ``[start_s, end_s)`` (call clock, plus the margin)."""
        lane = self._lanes.get(party)
        if lane is None:
            return []
        margin_s = REDACT_MARGIN_MS / 1000
        a_s, b_s = max(0.0, start_s - margin_s), end_s + margin_s
        lane.redacted.append((a_s, b_s))
        out = []
        a, b = round(a_s * lane.rate), min(lane.written, round(b_s * lane.rate))
        if a < b:
            out.append(Chunk(party, lane.rate, (party,), a, silence=b - a))
        rate = self.stereo_rate
        if rate is not None:
            a, b = round(a_s * rate), min(self.position, round(b_s * rate))
            if a < b:
                zeros = np.zeros(b - a, dtype=np.int16)
                out.append(Chunk(None, rate, self.parties, a, zeros, channel=lane.channel))
        return out

    def flush(self, until_s: float | None = None) -> list[Chunk]:
        """End of the call: everything decided, each file padded to the call's end."""
        if not self._lanes:
            return []
        if self.stereo_rate is None:
            self._open()
        assert self.stereo_rate is not None
        for lane in self._lanes.values():
            lane.done = True
            self._stereo_gap(lane)
        end = max(Fraction(lane.end, lane.rate) for lane in self._lanes.values())
        if until_s is not None:
            end = max(end, Fraction(round(until_s * 1000), 1000))
        out = self._drain(math.ceil(end * self.stereo_rate))
        for lane in self._lanes.values():
            n = math.ceil(end * lane.rate)
            if n > lane.written:
                out.append(
                    Chunk(
                        lane.party, lane.rate, (lane.party,), lane.written, silence=n - lane.written
                    )
                )
                lane.written = lane.end = n
        return out

    # -- internals ---------------------------------------------------------
    def _join(self, party: str, rate: int) -> _Lane:
        lane = self._lanes[party] = _Lane(party, rate, len(self._lanes))
        if self.stereo_rate is not None and rate != self.stereo_rate:
            lane.resampler = Resampler(rate, self.stereo_rate)
        return lane

    def _open(self) -> None:
        rate = self.stereo_rate_hz or max(lane.rate for lane in self._lanes.values())
        self.stereo_rate = rate
        for lane in self._lanes.values():
            if lane.rate != rate:
                lane.resampler = Resampler(lane.rate, rate)
            for start, pcm in lane.early:
                self._feed(lane, start, pcm)
            lane.early = []
            if lane.done or lane.end > lane.written:
                self._stereo_gap(lane)

    def _to_stereo(self, lane: _Lane, index: int) -> int:
        assert self.stereo_rate is not None
        return samples_to_rate(index, lane.rate, self.stereo_rate)

    def _feed(self, lane: _Lane, start: int, pcm: np.ndarray) -> None:
        if lane.resampler is None:
            self._add_seg(lane, start, pcm)
            return
        frames = []
        if lane.streaming and start != lane.fed:  # a jump: restart the filter after it
            frames += lane.resampler.flush()
            lane.streaming = False
        if not lane.streaming:  # silent up to here, whatever the filter still holds back
            lane.stereo_end = max(lane.stereo_end, self._to_stereo(lane, start))
        frames += lane.resampler.push(AudioFrame(self.call_id, lane.party, lane.rate, start, pcm))
        lane.streaming, lane.fed = True, start + pcm.shape[0]
        for f in frames:
            self._add_seg(lane, f.start, pcm_to_int16(f.pcm))

    def _stereo_gap(self, lane: _Lane) -> None:
        """No audio of the lane up to ``lane.end`` beyond what it gave: drain its filter."""
        if lane.resampler is not None and lane.streaming:
            for f in lane.resampler.flush():
                self._add_seg(lane, f.start, pcm_to_int16(f.pcm))
            lane.streaming = False
        lane.stereo_end = max(lane.stereo_end, self._to_stereo(lane, lane.end))

    def _add_seg(self, lane: _Lane, start: int, pcm: np.ndarray) -> None:
        if start < lane.seg_end:
            pcm, start = pcm[lane.seg_end - start :], lane.seg_end
        if pcm.shape[0] == 0:
            return
        lane.segs.append((start, pcm))
        lane.seg_end = start + pcm.shape[0]
        lane.stereo_end = max(lane.stereo_end, lane.seg_end)

    def _drain(self, until: int | None = None) -> list[Chunk]:
        rate = self.stereo_rate
        if rate is None:
            return []
        out = []
        for lane in self._lanes.values():  # audio for frames already decided: patch it in
            while lane.segs and lane.segs[0][0] < self.position:
                start, pcm = lane.segs.popleft()
                n = min(pcm.shape[0], self.position - start)
                if n < pcm.shape[0]:
                    lane.segs.appendleft((self.position, pcm[n:]))
                patch = self._mask(pcm[:n], start, rate, lane)
                out.append(Chunk(None, rate, self.parties, start, patch, channel=lane.channel))
                self.patched_frames += n
        ends = [lane.stereo_end for lane in self._lanes.values()]
        live = [lane.stereo_end for lane in self._lanes.values() if not lane.done]
        target = min(live) if live else max(ends)
        target = max(target, max(ends) - rate * self.max_skew_ms // 1000)
        if until is not None:
            target = max(target, until)
        return out + self._emit_to(target)

    def _emit_to(self, target: int) -> list[Chunk]:
        rate = self.stereo_rate
        assert rate is not None
        out = []
        lanes = self._lanes.values()
        while self.position < target:
            a = self.position
            nxt = min((lane.segs[0][0] for lane in lanes if lane.segs), default=target)
            if nxt > a:
                b = min(nxt, target)
                out.append(Chunk(None, rate, self.parties, a, silence=b - a))
                self.position = b
                continue
            b = min(target, a + BLOCK_S * rate)
            block = np.zeros((b - a, len(self._lanes)), dtype=np.int16)
            for lane in lanes:
                while lane.segs and lane.segs[0][0] < b:
                    start, pcm = lane.segs.popleft()
                    n = min(pcm.shape[0], b - start)
                    block[start - a : start - a + n, lane.channel] = pcm[:n]
                    if n < pcm.shape[0]:
                        lane.segs.appendleft((b, pcm[n:]))
            out.append(Chunk(None, rate, self.parties, a, self._mask(block, a, rate)))
            self.position = b
        return out

    def _mask(
        self, pcm: np.ndarray, offset: int, rate: int, lane: _Lane | None = None
    ) -> np.ndarray:
        """``pcm`` with the paused stretches and redacted spans silenced (a copy when
        anything changes); ``lane``: pcm is that lane's alone, else one column per lane."""
        copied = False
        spans: list[tuple[float, float | None, int | None]] = [
            (a, b, None) for a, b in self._pauses
        ]
        for each in [lane] if lane is not None else list(self._lanes.values()):
            column = None if lane is not None or pcm.ndim == 1 else each.channel
            spans += [(a, b, column) for a, b in each.redacted]
        for start_s, end_s, column in spans:
            a = max(0, round(start_s * rate) - offset)
            b = pcm.shape[0] if end_s is None else min(pcm.shape[0], round(end_s * rate) - offset)
            if a < b:
                if not copied:
                    pcm, copied = pcm.copy(), True
                if column is None:
                    pcm[a:b] = 0
                else:
                    pcm[a:b, column] = 0
        return pcm
