"""RTP packets (RFC 3550) for the simulator and the pcap writer: pure."""

from __future__ import annotations

import struct
from dataclasses import dataclass


def seq_add(seq: int, n: int) -> int:
    """16-bit sequence number arithmetic."""
    return (seq + n) & 0xFFFF


def ts_add(ts: int, n: int) -> int:
    """32-bit RTP timestamp arithmetic."""
    return (ts + n) & 0xFFFFFFFF


@dataclass
class Packetizer:
    payload_type: int
    ssrc: int
    seq: int = 0
    timestamp: int = 0

    def packet(self, payload: bytes, samples: int, marker: bool = False) -> bytes:
        head = struct.pack(
            "!BBHII",
            0x80,
            (0x80 if marker else 0) | self.payload_type,
            self.seq,
            self.timestamp,
            self.ssrc,
        )
        self.seq = seq_add(self.seq, 1)
        self.timestamp = ts_add(self.timestamp, samples)
        return head + payload
