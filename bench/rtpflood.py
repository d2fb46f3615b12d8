"""RTP flood benchmark: what each attack kind does to a party's audio, and at what rate.

A real device runs in this process; the simulator places a two-leg supervise
call (``--form headers``, PCMU) and plays the fixture.  While the agent speaks,
a :class:`pbxsim.flood.Flood` sends one attack kind at the agent's advertised
RTP port for ``--flood-s`` seconds.  The agent's tapped audio over the flood
window is compared with the fixture (waveform correlation at the best lag and
the share of speech frames that came out silent); the customer's leg is the
bystander.  For each kind the rates in ``--pps`` are tried in order and the
highest rate that left the call intact is reported.  Prints one JSON line per
run and one summary JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from pbxsim import g711
from pbxsim.flood import KINDS
from pbxsim.rtp import Packetizer
from records.device import LegAnswered, LegEnded
from records.frames import AudioFrame
from softphone.config import DeviceConfig, MediaConfig, RtpGateConfig, TransportConfig
from softphone.device import Device
from softphone.rtpports import RtpPorts
from softphone.rtprelay import RtpRelay

from .realtime import machine

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "call1_agent.wav"
FRAME = 160


def rtp_ports(dev: Device, timeout_s: float = 5.0) -> dict[str, dict]:
    """label -> {"port": advertised RTP port, "source": (ip, port) the party sends from}."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = threading.Event()
        out: dict[str, dict] = {}

        def look(out: dict[str, dict] = out, done: threading.Event = done) -> None:
            try:
                for stream in dev.rtp_streams():
                    out[stream.label] = {"port": stream.port, "source": stream.source}
                if not out:  # no gate: PJSIP's own socket (read from the legs; bench only)
                    for leg in list(dev._legs.values()):
                        for index, tap in leg.taps.items():
                            mt = leg.getMedTransportInfo(index)
                            host, _, port = str(mt.localRtpName).rpartition(":")
                            src = str(mt.srcRtpName)
                            sh, _, sp = src.rpartition(":")
                            out[tap.label] = {
                                "port": int(port),
                                "source": (sh, int(sp)) if sp else None,
                            }
            finally:
                done.set()

        dev.submit(look)
        done.wait(2.0)
        if out and all(v["source"] for v in out.values()):
            return out
        time.sleep(0.05)
    raise RuntimeError("no RTP source seen")


def best_lag(tap: np.ndarray, ref: np.ndarray, lo: int, hi: int, max_lag: int) -> tuple[int, float]:
    """Lag (samples the tap runs behind ref) and waveform correlation over ref[lo:hi]."""
    b = ref[lo:hi].astype(np.float64)
    a = tap[lo : hi + max_lag].astype(np.float64)
    if a.size < b.size + 1:
        return 0, 0.0
    n = 1 << int(np.ceil(np.log2(a.size + b.size)))
    xc = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)[: a.size - b.size + 1]
    bb = float(b @ b) + 1e-9
    energy = np.maximum(np.convolve(a * a, np.ones(b.size), "valid"), 0.01 * bb)
    corr = xc / np.sqrt(energy * bb)
    lag = int(np.argmax(corr))
    return lag, float(corr[lag])


def window_quality(tap: np.ndarray, ref: np.ndarray, lo: int, hi: int) -> dict:
    """Over ref[lo:hi] in 0.25 s pieces that hold speech (RMS > 300): the mean best-lag
    waveform correlation of the tap, and the share of pieces that did not come through
    (correlation under 0.5: silence, noise or someone else's audio)."""
    step = 2000
    corrs = []
    for at in range(lo, hi - step + 1, step):
        r = ref[at : at + step].astype(np.float64)
        if float(np.sqrt(np.mean(r * r))) < 300:
            continue
        corrs.append(best_lag(tap, ref, at, at + step, 8000)[1])
    if not corrs:
        return {"corr": 0.0, "lost_share": 1.0}
    lost = sum(c < 0.5 for c in corrs) / len(corrs)
    return {"corr": round(float(np.mean(corrs)), 3), "lost_share": round(lost, 3),
            "worst": round(float(min(corrs)), 3)}  # fmt: skip


def stream_stats(dev: Device) -> dict[str, dict]:
    """PJMEDIA's counters per party, read on the device thread."""
    done = threading.Event()
    out: list = []

    def read() -> None:
        try:
            out.extend(dev.publish_stats())
        finally:
            done.set()

    dev.submit(read)
    done.wait(2.0)
    keys = ("rx_packets", "lost", "discarded", "jb_lost", "jb_discarded", "jb_empty")
    return {s.party: {k: getattr(s, k) for k in keys} for s in out}


def one_run(dev: Device, kind: str, pps: float, args: argparse.Namespace) -> dict:
    target = f"sip:listenin@{dev.address}"
    sim_args = ("--form", "headers", "--codec", "PCMU", "--seconds", str(args.seconds),
                "--start-s", str(args.start_s),
                "--session-prefix", f"f{kind[:4]}{int(pps)}")  # fmt: skip
    result: dict = {}

    def sim() -> None:
        proc = subprocess.run([sys.executable, "-m", "pbxsim", target, *sim_args], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        result["sim"] = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]

    t = threading.Thread(target=sim)
    t.start()
    frames: dict[str, list[AudioFrame]] = {}
    answered = ended = 0
    t_answer = None
    flood: subprocess.Popen[str] | None = None
    cpu0 = None
    deadline = time.monotonic() + args.seconds + 30
    stats: dict = {}
    while ended < 2 and time.monotonic() < deadline:
        item = dev.get(0.05)
        if isinstance(item, AudioFrame):
            frames.setdefault(item.party, []).append(item)
        elif isinstance(item, LegAnswered):
            answered += 1
            if answered == 2:
                t_answer = time.monotonic()
        elif isinstance(item, LegEnded):
            ended += 1
        if flood is None and t_answer is not None and time.monotonic() > t_answer + args.flood_at_s:
            ports = rtp_ports(dev)
            agent = ports["agent"]
            cmd = [sys.executable, "-m", "pbxsim.flood", str(agent["port"]), kind, str(pps),
                   str(args.flood_s)]  # fmt: skip
            if kind == "ssrc2_spoofed":
                cmd.append(str(agent["source"][1]))
            cpu0 = time.process_time()
            flood = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
            result["flood_start"] = time.monotonic() - t_answer + 0.15  # interpreter start
        if flood is not None and not stats and flood.poll() is not None:
            stats = stream_stats(dev)
            result["gate"] = {s.label: {"forwarded": s.counters.forwarded,
                                        "malformed": s.counters.malformed,
                                        "wrong_pt": s.counters.wrong_pt,
                                        "foreign": s.counters.foreign,
                                        "relearned": s.counters.relearned}
                              for s in dev.rtp_streams() if s.label == "agent"}  # fmt: skip
    t.join()
    sent = 0
    if flood is not None:
        sent = json.loads(flood.communicate()[0].strip().splitlines()[-1])["sent"]
    source = sf.read(FIXTURE, dtype="int16")[0][int(args.start_s * 8000) :]
    ref = g711.ulaw_decode(g711.ulaw_encode(source))
    out = {"kind": kind, "pps": pps}
    if flood is None or "agent" not in frames:
        return {**out, "error": "call did not run"}
    tap = np.concatenate([f.pcm for f in frames["agent"]])
    lo = int((result["flood_start"] + 0.3) * 8000)  # taps start ~ at answer; jb delay < lag range
    hi = lo + int((args.flood_s - 0.5) * 8000)
    q = window_quality(tap, ref, lo, hi)
    base = window_quality(tap, ref, hi, hi + 4000)
    out.update(sent=sent, sent_pps=round(sent / args.flood_s), corr=q["corr"],
               lost_share=q["lost_share"], worst=q["worst"], after_corr=base["corr"], pjmedia=stats,
               device_cpu_s=round(time.process_time() - (cpu0 or 0), 2))  # fmt: skip
    agent, bystander = stats.get("agent", {}), stats.get("customer", {})
    gate = result.get("gate", {}).get("agent")
    if gate:  # PJMEDIA counts only what the gate passed: the bystander's count is the reference
        out["genuine_lost"] = max(0, bystander.get("rx_packets", 0) - agent.get("rx_packets", 0))
    # one 0.25 s piece may dip on this loaded 2-core machine (the bystander's buffer dips too)
    out["intact"] = (
        q["lost_share"] <= 0.1
        and out.get("genuine_lost", 0) <= 2
        and not (gate and gate["relearned"])
    )
    if gate:
        out["gate"] = gate
    return out


def thread_cpu_s(native_id: int) -> float:
    """CPU seconds (user + system) of one thread of this process, from /proc."""
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def relay_capacity(kind: str, packets: int = 1_000_000) -> dict:
    """Datagrams per second of relay-thread CPU for one flood kind beside a locked party:
    the relay alone on loopback, a flood process sending as fast as it can."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    relay = RtpRelay("127.0.0.1", RtpPorts(0, 16384, 32767))
    relay.start()
    try:
        _, port = relay.open("bench", 0, "agent", sink.getsockname()[1], 9, frozenset({0}))
        party = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        pk = Packetizer(0, 1234, 1, 1)
        for _ in range(3):  # lock the stream to this party
            party.sendto(pk.packet(bytes(160), 160), ("127.0.0.1", port))
        time.sleep(0.2)
        assert relay._thread is not None and relay._thread.native_id is not None
        tid = relay._thread.native_id
        cpu0, t0 = thread_cpu_s(tid), time.monotonic()
        seconds = 4.0
        proc = subprocess.run([sys.executable, "-m", "pbxsim.flood", str(port), kind,
                               str(packets / seconds), str(seconds)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        time.sleep(0.3)
        cpu, wall = thread_cpu_s(tid) - cpu0, time.monotonic() - t0
        sent = json.loads(proc.stdout.strip().splitlines()[-1])["sent"]
        (stream,) = relay.streams()
        c = stream.counters
        seen = c.forwarded + c.dropped - 3
        party.close()
    finally:
        relay.stop()
        sink.close()
    return {"kind": kind, "sent": sent, "seen": seen, "sent_pps": round(sent / seconds),
            "relay_cpu_share": round(cpu / wall, 2),
            "pps_per_core": round(seen / cpu) if cpu else None}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kinds", default=",".join(KINDS))
    p.add_argument("--pps", default="1000,5000,20000,50000")
    p.add_argument("--start-s", type=float, default=10.0, help="where in the fixture to start")
    p.add_argument("--seconds", type=float, default=8.0, help="call length (agent: 2.7-7.1 s)")
    p.add_argument("--flood-at-s", type=float, default=2.5)
    p.add_argument("--flood-s", type=float, default=4.0)
    p.add_argument("--no-gate", action="store_true", help="PJMEDIA faces the flood itself")
    p.add_argument("--capacity", action="store_true", help="measure the relay alone and stop")
    args = p.parse_args()
    if args.capacity:
        for kind in args.kinds.split(","):
            print(json.dumps(relay_capacity(kind)), flush=True)
        return
    media = MediaConfig(stats_interval_s=60.0, rtp_gate=RtpGateConfig(enabled=not args.no_gate))
    dev = Device(DeviceConfig(transport=TransportConfig(udp_port=0, rtp_port=0), media=media))
    dev.start()
    summary: dict = {"machine": machine(), "cores": os.cpu_count(), "gate": not args.no_gate,
                     "max_intact_pps": {}}  # fmt: skip
    try:
        for kind in args.kinds.split(","):
            best = 0.0
            for pps in (float(x) for x in args.pps.split(",")):
                run = one_run(dev, kind, pps, args)
                print(json.dumps(run), flush=True)
                if not run.get("intact"):
                    break
                best = run["sent_pps"]
            summary["max_intact_pps"][kind] = best
    finally:
        dev.stop()
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
