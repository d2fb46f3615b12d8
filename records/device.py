"""What the device tells the pipeline side: plain records with ids, no pjsua2 objects.

The device-to-pipeline boundary is a stream of these plus
:class:`records.frames.AudioFrame` (``call_id`` = session id, ``party`` = label),
so several device processes could feed one pipeline through any message channel.
"""

from __future__ import annotations

from dataclasses import dataclass

from .kinds import StreamKind


@dataclass(frozen=True, slots=True)
class StreamLabel:
    """Who one ``m=audio`` stream of an answered INVITE carries."""

    media_index: int  # index of the m= line (pjsua2's media index)
    party_id: str | None
    label: str  # the transcript's speaker label
    kind: StreamKind = StreamKind.PARTY  # MIXED: a session-level stream, the whole call


@dataclass(frozen=True, slots=True)
class LegAnswered:
    leg: str  # unique per INVITE dialog within the device (pjsua call id + serial)
    session_id: str
    streams: tuple[StreamLabel, ...]
    source: str  # "ip:port" the INVITE came from
    identified_by: str  # "ringcentral", "headers" or "fallback"
    answer_ms: float  # INVITE handed to the device -> 200 OK sent


@dataclass(frozen=True, slots=True)
class LegRejected:
    source: str
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class LegEnded:
    leg: str
    session_id: str
    labels: tuple[str, ...]
    reason: str  # e.g. "BYE from remote"
    lost: bool = False  # the leg's device process died: its call ends with ``reason``


@dataclass(frozen=True, slots=True)
class ClockOrigin:
    """When a session's call clock started (``time.monotonic_ns``, one clock for every
    process of the host), so legs of one session on two device processes share it."""

    session_id: str
    origin_ns: int


@dataclass(frozen=True, slots=True)
class RegistrationChanged:
    code: int  # SIP status of the last REGISTER transaction
    reason: str
    registered: bool
    expires_s: int


@dataclass(frozen=True, slots=True)
class StreamStats:
    """RTP and jitter-buffer figures of one party stream (PJMEDIA's counters, cumulative)."""

    session_id: str
    party: str
    codec: str
    rx_packets: int
    lost: int
    discarded: int
    reordered: int
    duplicated: int
    jitter_ms: float  # RTCP interarrival jitter, mean
    jb_delay_ms: int  # jitter buffer average delay
    jb_lost: int  # frames the buffer had to conceal
    jb_discarded: int  # frames the buffer threw away
    jb_empty: int  # playout found the buffer empty
    dropped_frames: int  # taps refused by the device's frame queue (consumer too slow)


@dataclass(frozen=True, slots=True)
class DigitSignalled:
    """A key press the phone sent as RTP telephone-events (RFC 4733), not as tones.

    ``start``/``end`` are samples at ``sample_rate`` on the call clock of the
    stream ``party`` (the stream's tap clock when the first event packet came).
    """

    session_id: str
    party: str  # the stream's label
    digit: str  # 0-9, *, #, A-D
    start: int
    end: int
    sample_rate: int


DeviceEvent = (
    LegAnswered
    | LegRejected
    | LegEnded
    | RegistrationChanged
    | StreamStats
    | ClockOrigin
    | DigitSignalled
)
