"""INVITE flood benchmark: answer times under a flood, and what an ongoing call loses.

The device runs in this process with a consumer that only counts frames; the
simulator plays a two-party call (``--seconds`` of call1) in another process.
Two seconds in, ``--invites`` INVITEs are sent at ``--rate`` per second: from
127.0.0.1 (trusted, rate-limited per source: mostly 503) and from ``--sources``
other loopback addresses (untrusted: 403), half with an SDP offer, a quarter
without one and a quarter garbage.  Prints one JSON object as the last line:
INVITEs per second sent, answers by status, answer time p50/p95/max (ms, send
-> final response), and for the ongoing call the frames tapped per party
against the frames played, jitter-buffer loss and dropped frames.  ``--front``
puts the device behind its kamailio SIP front (:mod:`softphone.front`), as
``listenin run`` does; ``--lines N`` offers N audio streams per INVITE (16: the
offers whose sockets alone used to exhaust PJSIP's socket table).
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from pbxsim.hostile import RawInvite, sdp
from records.device import StreamStats
from records.frames import AudioFrame
from softphone.config import DeviceConfig, MediaConfig, TransportConfig
from softphone.device import Device
from softphone.front import behind_front, front_config
from softphone.kamailio import KamailioFront, free_udp_port

from .realtime import machine, pct

ROOT = Path(__file__).resolve().parent.parent


def flood(dest: tuple[str, int], count: int, sources: int, rate: float, lines: int = 1) -> dict:
    """Send ``count`` INVITEs at ``rate``/s on one thread, collect answers on this one."""
    lock = threading.Lock()
    pending: dict[socket.socket, tuple[RawInvite, float]] = {}
    closed: list[RawInvite] = []
    answers: dict[int, list[float]] = {}
    t0 = time.monotonic()

    def send() -> None:
        for n in range(count):
            time.sleep(max(0.0, t0 + n / rate - time.monotonic()))
            ip = "127.0.0.1" if n % 2 == 0 else f"127.0.1.{1 + n % max(1, sources)}"
            inv = RawInvite(dest, ip)
            with lock:
                pending[inv.sock] = (inv, time.monotonic())
            kind = n % 4
            if kind in (0, 1):
                inv.send(body=sdp(["audio"] * lines))
            elif kind == 2:
                inv.send(body="")
            else:
                inv.raw(b"INVITE garbage\r\n\r\n")

    sender = threading.Thread(target=send)
    sender.start()
    deadline = t0 + count / rate + 10
    while time.monotonic() < deadline and (sender.is_alive() or pending):
        with lock:
            socks = {sock.fileno(): sock for sock in pending}
        poller = select.poll()  # select() stops at fd 1024
        for fd in socks:
            poller.register(fd, select.POLLIN)
        ready = [socks[fd] for fd, _ in poller.poll(5)] if socks else []
        if not socks:
            time.sleep(0.01)
        for sock in ready:
            with lock:
                inv, sent = pending[sock]
            code = inv.final(0.01)
            if code is None:
                continue
            answers.setdefault(code, []).append((time.monotonic() - sent) * 1000)
            if code == 200:
                inv.ack()
                inv.bye()
            with lock:
                del pending[sock]
            closed.append(inv)
    sender.join()
    send_s = time.monotonic() - t0
    for inv in closed + [inv for inv, _ in pending.values()]:
        inv.close()
    every = [ms for v in answers.values() for ms in v]
    return {
        "invites": count,
        "invites_per_s": round(count / max(send_s - 10 * bool(pending), 1e-3)),
        "answers": {str(k): len(v) for k, v in sorted(answers.items())},
        "unanswered": len(pending),
        "answer_ms_p50": pct(every, 50),
        "answer_ms_p95": pct(every, 95),
        "answer_ms_max": round(max(every), 1) if every else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--invites", type=int, default=500)
    p.add_argument("--sources", type=int, default=50, help="untrusted loopback addresses")
    p.add_argument("--rate", type=float, default=100.0, help="INVITEs per second to send")
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--lines", type=int, default=1, help="audio m= lines per offer")
    p.add_argument("--front", action="store_true", help="behind the kamailio SIP front")
    args = p.parse_args()
    config = DeviceConfig(
        transport=TransportConfig(udp_port=free_udp_port() if args.front else 0, rtp_port=0),
        media=MediaConfig(stats_interval_s=1.0),
    )
    internal = free_udp_port()
    dev = Device(behind_front(config, internal) if args.front else config)
    dev.start()
    assert dev.address is not None
    front = None
    target = dev.address
    if args.front:
        front = KamailioFront(front_config(config, (int(dev.address.rsplit(":", 1)[1]),), internal))
        front.start()
        target = front.config.public
    frames: Counter[str] = Counter()
    last: dict[str, StreamStats] = {}
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            item = dev.get(0.1)
            if isinstance(item, AudioFrame):
                frames[item.party] += 1
            elif isinstance(item, StreamStats):
                last[item.party] = item

    consumer = threading.Thread(target=consume)
    consumer.start()
    sim = subprocess.Popen(
        [sys.executable, "-m", "pbxsim", f"sip:listenin@{target}", "--fixture", "call1",
         "--form", "two-streams", "--seconds", str(args.seconds)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(2.0)
    host, port = target.rsplit(":", 1)
    result = flood((host, int(port)), args.invites, args.sources, args.rate, args.lines)
    sim.wait(args.seconds + 30)
    time.sleep(1.0)
    stop.set()
    consumer.join()
    front_alive = front is not None and front.alive()
    if front is not None:
        front.stop()
    dev.stop()
    call = {
        party: {
            "frames": frames[party],
            "rtp_packets": s.rx_packets,
            "jb_lost": s.jb_lost,
            "jb_discarded": s.jb_discarded,
        }
        for party, s in last.items()
    }
    result.update(
        front=args.front,
        front_alive=front_alive if args.front else None,
        lines=args.lines,
        sim_status=sim.returncode,
        call=call,
        dropped_frames=dev.stats.dropped_frames,
        machine=machine(),
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
