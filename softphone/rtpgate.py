"""The RTP gate: which packets arriving at a party's RTP port reach PJMEDIA.

PJMEDIA 2.15 takes any datagram at its RTP port: a second SSRC replaces the
party's audio, a few hundred spoofed packets a second restart its sequence
tracking and empty the jitter buffer, and packets it then discards still cost
the party its audio (bench/rtpflood.py measures this).  :class:`RtpGate` is the
sans-I/O check the relay (:mod:`softphone.rtprelay`) runs on every datagram
before it forwards it:

* a malformed header (not version 2, shorter than its CSRC list, extension or
  padding say, no payload, over ``MAX_PACKET_BYTES``) is dropped as
  ``malformed``;
* a payload type outside the negotiated set is dropped as ``wrong_pt``;
* the stream locks onto the first (source address, SSRC) that sends
  ``learn_packets`` in-sequence packets; packets of any other source or SSRC
  are dropped as ``foreign``.  Policy ``relearn_after_silence``: the lock moves
  only when the locked source has been silent for ``relearn_silence_ms`` and
  one challenger has sent ``relearn_packets`` in-sequence packets meanwhile, so
  a flood beside a live party never takes its place, and a real switch
  (transfer, media server fail-over) is followed within about a second.  One
  exception, ``expected_source``: the address the offer's SDP names (where a
  symmetric-RTP party sends from) takes the lock with its first packet from a
  source that is not it, so a flood that raced the party's first packets
  loses the lock as soon as the party is heard.

Time is an input (``now_ms``, any monotonic millisecond clock).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

MAX_PACKET_BYTES = 1500  # PJMEDIA's receive buffer (PJMEDIA_MAX_MTU); longer ones it truncates
_HEAD = struct.Struct("!BBHII").unpack_from
_SEQ_WINDOW = 100  # a learning packet counts as "in sequence" within this many numbers ahead


def seq_ahead(seq: int, last: int) -> int:
    """How far 16-bit sequence number ``seq`` is after ``last`` (0..65535, wrapping)."""
    return (seq - last) & 0xFFFF


class Verdict(IntEnum):
    FORWARD = 0
    FORWARD_HELD = 1  # forward :meth:`RtpGate.take_held` first, then this packet
    MALFORMED = 2
    WRONG_PT = 3
    FOREIGN = 4  # not the locked source address and SSRC (or still learning)


@dataclass(frozen=True, slots=True)
class GatePolicy:
    payload_types: frozenset[int]  # negotiated RTP payload types (codec, telephone-event)
    learn_packets: int = 2  # in-sequence packets that lock a new stream (RFC 3550 probation)
    relearn_silence_ms: int = 1000  # the locked source must be silent this long ...
    relearn_packets: int = 10  # ... while one challenger sends this many in sequence
    # the (host, port) the offer's SDP says the party sends from (symmetric RTP): packets
    # from exactly there take the lock at once from a source that is not
    expected_source: tuple[str, int] | None = None

    def __post_init__(self) -> None:
        if not self.payload_types or any(not 0 <= pt <= 127 for pt in self.payload_types):
            raise ValueError(f"payload types must be a non-empty set of 0..127, got "
                             f"{sorted(self.payload_types)}")  # fmt: skip
        if self.learn_packets < 1 or self.relearn_packets < 1 or self.relearn_silence_ms < 0:
            raise ValueError("learn_packets, relearn_packets >= 1 and relearn_silence_ms >= 0")


@dataclass(frozen=True, slots=True)
class GateCounters:
    forwarded: int = 0
    malformed: int = 0
    wrong_pt: int = 0
    foreign: int = 0
    relearned: int = 0  # times the lock moved to a new source or SSRC
    locked: tuple[str, int, int] | None = None  # (host, port, ssrc) the stream is locked to

    @property
    def dropped(self) -> int:
        return self.malformed + self.wrong_pt + self.foreign


def header_error(data: bytes) -> str | None:
    """Why ``data`` is not a well-formed RTP packet with a payload, or None."""
    size = len(data)
    if size < 12:
        return "shorter than an RTP header"
    if size > MAX_PACKET_BYTES:
        return "longer than PJMEDIA's receive buffer"
    first = data[0]
    if first >> 6 != 2:
        return "not RTP version 2"
    offset = 12 + 4 * (first & 0x0F)
    if first & 0x10:  # extension: 4-byte header, then length in 32-bit words
        if offset + 4 > size:
            return "extension header past the end"
        offset += 4 + 4 * int.from_bytes(data[offset + 2 : offset + 4], "big")
    if offset > size:
        return "CSRC list or extension past the end"
    if first & 0x20:  # padding: the last byte counts the padding bytes, itself included
        pad = data[-1]
        if pad == 0 or offset + pad > size:
            return "bad padding length"
        size -= pad
    if offset >= size:
        return "no payload"
    return None


class RtpGate:
    """One party's RTP stream: ``push(packet, source, now_ms)`` -> :class:`Verdict`."""

    __slots__ = ("policy", "_pts", "_lock", "_last_ms", "_cand", "_cand_seq",
                 "_cand_n", "_held", "forwarded", "malformed", "wrong_pt", "foreign",
                 "relearned")  # fmt: skip

    def __init__(self, policy: GatePolicy) -> None:
        self.policy = policy
        self._pts = policy.payload_types
        self._lock: tuple[object, int] | None = None  # (source address, ssrc)
        self._last_ms = 0  # when the locked source last sent
        self._cand: tuple[object, int] | None = None  # learning / challenging source
        self._cand_seq = 0
        self._cand_n = 0
        self._held: bytes | None = None  # the first learning packet, forwarded on lock
        self.forwarded = self.malformed = self.wrong_pt = self.foreign = self.relearned = 0

    def set_payload_types(self, payload_types: frozenset[int]) -> None:
        """Narrow (or change) the accepted payload types after negotiation."""
        if payload_types:
            self._pts = payload_types

    def push(self, data: bytes, source: object, now_ms: int) -> Verdict:
        try:
            first, second, seq, _ts, ssrc = _HEAD(data)
        except struct.error:
            self.malformed += 1
            return Verdict.MALFORMED
        # fast path: version 2 without CSRC, extension or padding, 1..1488 payload bytes
        if (first != 0x80 or not 12 < len(data) <= MAX_PACKET_BYTES) and header_error(data):
            self.malformed += 1
            return Verdict.MALFORMED
        if second & 0x7F not in self._pts:
            self.wrong_pt += 1
            return Verdict.WRONG_PT
        ident = (source, ssrc)
        if ident == self._lock:
            self._last_ms = now_ms
            self.forwarded += 1
            return Verdict.FORWARD
        return self._stranger(data, ident, seq, now_ms)

    def _stranger(self, data: bytes, ident: tuple[object, int], seq: int, now_ms: int) -> Verdict:
        """A valid packet from a source/SSRC that is not (or not yet) the locked one."""
        expected = self.policy.expected_source
        if expected is not None and ident[0] == expected:
            lock = self._lock
            if lock is None or lock[0] != expected:  # the signalled address wins at once
                self.relearned += int(lock is not None)
                self._lock, self._cand, self._cand_n, self._held = ident, None, 0, None
                self._last_ms = now_ms
                self.forwarded += 1
                return Verdict.FORWARD
        if ident == self._cand and 0 < seq_ahead(seq, self._cand_seq) <= _SEQ_WINDOW:
            self._cand_n += 1
        else:
            self._cand, self._cand_n = ident, 1
            if self._lock is None:
                self._held = data
        self._cand_seq = seq
        if self._lock is None:
            if self._cand_n < self.policy.learn_packets:
                self.foreign += 1
                return Verdict.FOREIGN
        elif (
            self._cand_n < self.policy.relearn_packets
            or now_ms - self._last_ms < self.policy.relearn_silence_ms
        ):
            self.foreign += 1
            return Verdict.FOREIGN
        else:
            self.relearned += 1
        relearn = self._lock is not None
        self._lock, self._cand, self._cand_n = ident, None, 0
        self._last_ms = now_ms
        self.forwarded += 1
        if not relearn and self._held is not None and self.policy.learn_packets > 1:
            self.forwarded += 1
            self.foreign -= 1  # the held packet was counted foreign while learning
            return Verdict.FORWARD_HELD
        self._held = None
        return Verdict.FORWARD

    def take_held(self) -> bytes:
        """The learning packet a FORWARD_HELD verdict asks to forward first."""
        held, self._held = self._held, None
        return held or b""

    def counters(self) -> GateCounters:
        lock = None
        if self._lock is not None:
            source, ssrc = self._lock
            host, port = source if isinstance(source, tuple) else (str(source), 0)
            lock = (str(host), int(port), ssrc)
        return GateCounters(self.forwarded, self.malformed, self.wrong_pt, self.foreign,
                            self.relearned, lock)  # fmt: skip
