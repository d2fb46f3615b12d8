"""Device benchmark: answer time and the device's own CPU with 4 supervised calls.

The device runs in this process with a consumer that only counts frames (no
ASR), the simulator in another process places ``--calls`` two-stream supervise
calls at once and plays ``--seconds`` of the fixture.  Prints one JSON object as
the last line: answer_ms_p50/p95 (INVITE handed to the device -> 200 OK sent),
invite_to_answer_ms_p95 (as the simulator saw it), device_cpu_percent (of one
core), frames, dropped_frames, machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from records.device import LegAnswered, LegEnded
from records.frames import AudioFrame
from softphone.config import DeviceConfig, TransportConfig
from softphone.device import Device

from .realtime import machine, pct

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=4)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--rounds", type=int, default=5, help="call rounds for answer-time samples")
    args = p.parse_args()
    dev = Device(DeviceConfig(transport=TransportConfig(udp_port=0, rtp_port=0)))
    dev.start()
    counts = {"frames": 0, "answered": [], "ended": 0}
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            item = dev.get(0.1)
            if isinstance(item, AudioFrame):
                counts["frames"] += 1
            elif isinstance(item, LegAnswered):
                counts["answered"].append(item.answer_ms)
            elif isinstance(item, LegEnded):
                counts["ended"] += 1

    consumer = threading.Thread(target=consume)
    consumer.start()
    sim_answer = []
    cpu_percent = None
    for round_no in range(args.rounds):
        seconds = args.seconds if round_no == 0 else 1.0  # CPU on the first, long round
        t0, c0 = time.monotonic(), time.process_time()
        out = subprocess.run(
            [sys.executable, "-m", "pbxsim", f"sip:listenin@{dev.address}", "--sessions",
             str(args.calls), "--seconds", str(seconds), "--session-prefix", f"r{round_no}"],
            cwd=ROOT, capture_output=True, text=True, timeout=seconds + 60,
        )  # fmt: skip
        wall, cpu = time.monotonic() - t0, time.process_time() - c0
        if round_no == 0:
            cpu_percent = round(100 * cpu / wall, 1)
        for line in out.stdout.splitlines():
            leg = json.loads(line)
            if leg["invite_to_answer_ms"] is not None:
                sim_answer.append(leg["invite_to_answer_ms"])
        print(f"round {round_no + 1}/{args.rounds}: {args.calls} calls, {seconds:.0f} s, "
              f"rc {out.returncode}", file=sys.stderr, flush=True)  # fmt: skip
    stop.set()
    consumer.join()
    dev.stop()
    result = {
        "calls": args.calls,
        "party_streams": 2 * args.calls,
        "answer_ms_p50": round(pct(counts["answered"], 50) or 0, 2),
        "answer_ms_p95": round(pct(counts["answered"], 95) or 0, 2),
        "invite_to_answer_ms_p95": round(pct(sim_answer, 95) or 0, 2),
        "device_cpu_percent": cpu_percent,
        "frames": counts["frames"],
        "dropped_frames": dev.stats.dropped_frames,
        "machine": machine(),
        "cores": os.cpu_count(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
