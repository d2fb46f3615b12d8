"""An RTP flood for attack tests and benchmarks: crafted packets, sent paced, bounded.

:func:`flood_packets` builds the packets of one attack kind (pure, seeded);
:func:`spoofed_udp` wraps a payload in an IPv4/UDP header with a chosen source
(sent through a raw socket, so a flood can come "from" the genuine party's own
address; needs root).  :class:`Flood` sends them to one address at a fixed rate
until a packet count or a deadline, whichever comes first, on loopback only.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from dataclasses import dataclass

from .rtp import Packetizer

KINDS = ("garbage", "garbage_v2", "wrong_pt", "ssrc2", "ssrc2_spoofed", "bad_header")
_SAMPLES = 160


def flood_packets(kind: str, count: int, seed: int = 1, pt: int = 0) -> list[bytes]:
    """``count`` packets of one attack ``kind`` (distinct, reproducible from ``seed``).

    garbage: random bytes (any version bits); garbage_v2: random bytes with the
    version bits set to 2 (passes a version-only check); wrong_pt: valid RTP of
    a payload type the call did not negotiate; ssrc2 / ssrc2_spoofed: valid RTP
    of the call's own payload type ``pt`` carrying noise under a second SSRC;
    bad_header: version 2 with a CSRC count or extension longer than the packet.
    """
    rng = random.Random(seed)
    out: list[bytes] = []
    if kind in ("garbage", "garbage_v2"):
        for _ in range(count):
            data = bytearray(rng.randbytes(rng.randrange(12, 400)))
            if kind == "garbage_v2":
                data[0] = 0x80 | (data[0] & 0x3F)
            out.append(bytes(data))
        return out
    if kind == "bad_header":
        for n in range(count):
            head = struct.pack("!BBHII", 0x80 | 0x0F, pt, n & 0xFFFF, n * 160, 0xBAD)
            if n % 2:  # extension header claiming 200 words
                head = struct.pack("!BBHII", 0x90, pt, n & 0xFFFF, n * 160, 0xBAD)
                head += struct.pack("!HH", 0xBEDE, 200)
            out.append(head + rng.randbytes(20))
        return out
    if kind in ("wrong_pt", "ssrc2", "ssrc2_spoofed"):
        ptype = 96 + rng.randrange(30) if kind == "wrong_pt" else pt
        pk = Packetizer(ptype, rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(32))
        return [pk.packet(rng.randbytes(_SAMPLES), _SAMPLES) for _ in range(count)]
    raise ValueError(f"flood kind must be one of {KINDS}, got {kind!r}")


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def spoofed_udp(src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> bytes:
    """An IPv4 datagram from ``src`` to ``dst`` (UDP checksum 0: none, allowed in IPv4)."""
    udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, socket.IPPROTO_UDP, 0,
        socket.inet_aton(src[0]), socket.inet_aton(dst[0]),
    )  # fmt: skip
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return ip + udp


@dataclass
class Flood:
    """Send ``packets`` (cycled) to ``dest`` at ``pps`` for at most ``seconds``/``count``."""

    dest: tuple[str, int]
    packets: list[bytes]
    pps: float
    seconds: float
    count: int | None = None
    spoof_source: tuple[str, int] | None = None  # raw socket: the packets claim this source
    sent: int = 0
    errors: int = 0

    def __post_init__(self) -> None:
        hosts = {self.dest[0], self.spoof_source[0] if self.spoof_source else "127.0.0.1"}
        if hosts != {"127.0.0.1"}:
            raise ValueError("the flood is for loopback only")
        self._thread = threading.Thread(target=self._run, name="rtp-flood", daemon=True)

    def start(self) -> Flood:
        self._thread.start()
        return self

    def join(self, timeout_s: float | None = None) -> None:
        self._thread.join(timeout_s)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _socket(self) -> socket.socket:
        if self.spoof_source is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            return sock
        return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)

    def _run(self) -> None:
        limit = self.count if self.count is not None else int(self.pps * self.seconds)
        if self.spoof_source is not None:
            wire = [spoofed_udp(self.spoof_source, self.dest, p) for p in self.packets]
        else:
            wire = list(self.packets)
        with self._socket() as sock:
            t0 = time.monotonic()
            end = t0 + self.seconds
            n = len(wire)
            while self.sent < limit:
                now = time.monotonic()
                if now >= end:
                    break
                due = min(limit, int((now - t0) * self.pps) + 1)
                while self.sent < due:
                    try:
                        sock.sendto(wire[self.sent % n], self.dest)
                    except OSError:
                        self.errors += 1
                    self.sent += 1
                time.sleep(0.001)


def main(argv: list[str] | None = None) -> int:
    """``python -m pbxsim.flood PORT KIND PPS SECONDS [SPOOF_PORT]``: one flood, then its
    count as a JSON line (a process of its own, so the sender's CPU is not the device's)."""
    import json
    import sys

    args = sys.argv[1:] if argv is None else argv
    port, kind, pps, seconds = int(args[0]), args[1], float(args[2]), float(args[3])
    spoof = ("127.0.0.1", int(args[4])) if len(args) > 4 else None
    packets = flood_packets(kind, min(int(pps * seconds) + 1, 65536))
    flood = Flood(("127.0.0.1", port), packets, pps, seconds, spoof_source=spoof).start()
    flood.join()
    print(json.dumps({"sent": flood.sent, "errors": flood.errors}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
