"""The call clock of one supervised session, shared by all its streams.

PJMEDIA hands each party's decoded audio to the device every 20 ms without a
timestamp.  The conference bridge's clock never skips (an empty jitter buffer
still yields a concealed or silent frame), so within a stream counting frames
*is* the call clock.  Streams that start later (a second per-party INVITE, a
late ``m=audio``) are placed by the wall time of their first frame, rounded to
whole frames.  The session places by time; each stream counts samples at its
own rate (a G.711 stream at 8 kHz and a G.722 one at 16 kHz can share a
session), so a stream's sample index is the call clock at that stream's rate.
Pure: wall time is passed in as nanoseconds.
"""

from __future__ import annotations

from collections.abc import Callable


class SessionClock:
    def __init__(
        self, sample_rate: int, frame_ms: int = 20, on_origin: Callable[[int], None] | None = None
    ) -> None:
        self.sample_rate = sample_rate  # the rate of a stream that does not name its own
        self.frame_ms = frame_ms
        self.frame_samples = sample_rate * frame_ms // 1000
        self._frame_ns = frame_ms * 1_000_000
        self._origin_ns: int | None = None
        self.on_origin = on_origin  # told the origin once, when the first stream places

    def place(self, now_ns: int, sample_rate: int | None = None) -> int:
        """Call-clock sample index, at ``sample_rate`` (default: the session's), for a
        stream whose first frame arrives at ``now_ns``."""
        if self._origin_ns is None:
            self._origin_ns = now_ns
            if self.on_origin is not None:
                self.on_origin(now_ns)
        frames = max(0, round((now_ns - self._origin_ns) / self._frame_ns))
        return frames * ((sample_rate or self.sample_rate) * self.frame_ms // 1000)


class StreamClock:
    """Counts one stream's samples, at its own rate, from where :class:`SessionClock`
    placed it."""

    def __init__(self, session: SessionClock, sample_rate: int | None = None) -> None:
        self.session = session
        self.sample_rate = sample_rate or session.sample_rate
        self.position: int | None = None  # next frame's start sample

    def advance(self, now_ns: int, samples: int) -> int:
        """Start sample of a frame of ``samples`` arriving at ``now_ns``."""
        if self.position is None:
            self.position = self.session.place(now_ns, self.sample_rate)
        start = self.position
        self.position += samples
        return start
