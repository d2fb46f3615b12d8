"""Write RTP as a pcap (Ethernet/IPv4/UDP) that sipp's ``play_pcap_audio`` replays.

sipp sends each packet at its pcap timestamp, so network impairments are baked
into the file: per-packet delay (jitter), loss and reordering.  The kernel here
has no netem; this is how the end-to-end tests impair a call.  Pure, seeded.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .g711 import ENCODERS
from .rtp import Packetizer

SAMPLES = 160  # 20 ms at 8 kHz


@dataclass(frozen=True, slots=True)
class Impairment:
    jitter_mean_ms: float = 0.0
    jitter_std_ms: float = 0.0
    loss: float = 0.0  # share of packets dropped
    reorder: float = 0.0  # share of packets swapped with their successor
    seed: int = 1


def schedule(count: int, imp: Impairment) -> list[tuple[float, int]]:
    """(send time s, packet index) after delay, loss and reordering, in send order."""
    rng = np.random.default_rng(imp.seed)
    delay = np.clip(rng.normal(imp.jitter_mean_ms, imp.jitter_std_ms, count), 0, None) / 1000
    keep = rng.random(count) >= imp.loss
    sent = sorted((n * 0.02 + float(delay[n]), n) for n in range(count) if keep[n])
    for i in range(len(sent) - 1):
        if rng.random() < imp.reorder:  # swap the packets, keep the send times
            (t0, a), (t1, b) = sent[i], sent[i + 1]
            sent[i], sent[i + 1] = (t0, b), (t1, a)
    return sent


def _udp_frame(payload: bytes, sport: int = 6000, dport: int = 6002) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))  # fmt: skip
    return b"\x00" * 12 + b"\x08\x00" + ip + udp  # Ethernet: zero MACs, IPv4


def write_pcap(
    path: Path, pcm8k: np.ndarray, codec: str = "PCMU", imp: Impairment | None = None
) -> int:
    """Packetise ``pcm8k`` (int16) as 20 ms RTP, impair it, write it; returns packets written."""
    imp = imp or Impairment()
    pt, encode = ENCODERS[codec]
    count = pcm8k.size // SAMPLES
    packer = Packetizer(pt, 0x1234ABCD, seq=1000, timestamp=160000)
    packets = []
    for n in range(count):
        chunk = pcm8k[n * SAMPLES : (n + 1) * SAMPLES]
        packets.append(packer.packet(encode(chunk), SAMPLES, marker=n == 0))
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        sent = schedule(count, imp)
        for t, n in sent:
            frame = _udp_frame(packets[n])
            sec = int(t)
            f.write(struct.pack("<IIII", 1_700_000_000 + sec, int((t - sec) * 1e6), len(frame),
                                len(frame)))  # fmt: skip
            f.write(frame)
    return len(sent)
