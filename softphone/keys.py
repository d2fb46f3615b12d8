"""RFC 4733 telephone-events of one leg, placed on its call clock.

PJMEDIA reports a key press sent as RTP telephone-events several times: once
when it starts, with updates while the key is held, and (unless the end
packets are lost) once more with the final duration.  Its timestamp only tells
presses apart.  :class:`SignalledKeys` turns these reports into one
:class:`~records.device.DigitSignalled` per press, placed by the stream's tap
clock when the first report came (the tap position is "now" on the call
clock).  A press whose end never came is closed by the next press or
:meth:`SignalledKeys.close`, with the last duration heard.  Pure: the tap
position is passed in.
"""

from __future__ import annotations

from records.device import DigitSignalled

DTMF_IS_UPDATE = 1 << 0  # PJMEDIA_STREAM_DTMF_IS_UPDATE (not exported by pjsua2)
DTMF_IS_END = 1 << 1  # PJMEDIA_STREAM_DTMF_IS_END
DIGITS = frozenset("0123456789*#ABCD")


class SignalledKeys:
    def __init__(self, session_id: str, party: str, sample_rate: int) -> None:
        self.session_id = session_id
        self.party = party
        self.sample_rate = sample_rate
        self._open: tuple[int, str, int, int] | None = None  # timestamp, digit, start, ms
        self._ended: int | None = None  # timestamp of the last press that ended
        self.ignored = 0  # reports with no usable digit

    def event(
        self, digit: str, timestamp_ms: int, duration_ms: int, flags: int, position: int
    ) -> list[DigitSignalled]:
        """One PJMEDIA report; ``position``: the stream's tap clock now (samples)."""
        digit = digit.upper()
        if digit not in DIGITS:
            self.ignored += 1
            return []
        if timestamp_ms == self._ended:
            return []  # a repeated end packet of a press already reported
        out: list[DigitSignalled] = []
        if self._open is not None and self._open[0] != timestamp_ms:
            out.extend(self.close())  # its end was lost: the next press closes it
        ms = max(0, duration_ms)
        if self._open is None:
            start = max(0, position - ms * self.sample_rate // 1000)
            self._open = (timestamp_ms, digit, start, ms)
        else:
            self._open = (*self._open[:3], max(self._open[3], ms))
        if flags & DTMF_IS_END:
            self._ended = timestamp_ms
            out.extend(self.close())
        return out

    def close(self) -> list[DigitSignalled]:
        """The open press ends with the last duration heard (leg ended, end packets lost)."""
        if self._open is None:
            return []
        _, digit, start, ms = self._open
        self._open = None
        end = start + max(1, ms) * self.sample_rate // 1000
        return [DigitSignalled(self.session_id, self.party, digit, start, end, self.sample_rate)]
