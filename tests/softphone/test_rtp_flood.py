"""A party's audio survives an RTP flood at its port: garbage, wrong payload types, bad
headers, a second SSRC from another port and (as root) from the party's own address."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import soundfile as sf

from pbxsim import g711
from pbxsim.flood import Flood, flood_packets
from records.device import LegAnswered, LegEnded

from ..waiting import wait_for
from .conftest import ROOT, Collected, drain, run_sim
from .test_tap import lag_near

AGENT = ROOT / "fixtures" / "call1_agent.wav"
START_S, SECONDS = 10, 8  # the agent speaks 2.7-7.1 s into this clip
FLOOD_AT_S, FLOOD_S, PPS = 2.5, 3.5, 400  # per kind; 2000 packets/s in all, bounded


def test_a_flood_at_a_partys_rtp_port_costs_neither_its_audio_nor_the_other_partys(
    make_device,
):
    dev = make_device()
    out: dict = {}
    args = ("--form", "headers", "--codec", "PCMU", "--start-s", str(START_S),
            "--seconds", str(SECONDS))  # fmt: skip
    sim = threading.Thread(target=lambda: out.update(r=run_sim(f"sip:listenin@{dev.address}",
                                                               *args)))  # fmt: skip
    sim.start()
    got = drain(dev, lambda g: len(g.of(LegAnswered)) >= 2)
    t_answer = time.monotonic()

    def agent_locked():
        return [s for s in dev.rtp_streams() if s.label == "agent" and s.source]

    (agent,) = wait_for(agent_locked, 10.0)
    assert agent.port != agent.target  # advertised: the relay, not PJMEDIA's loopback socket
    dest = ("127.0.0.1", agent.port)
    kinds = ["garbage", "garbage_v2", "wrong_pt", "bad_header", "ssrc2"]
    drain(dev, lambda g: time.monotonic() >= t_answer + FLOOD_AT_S, into=got)
    floods = [
        Flood(dest, flood_packets(kind, int(PPS * FLOOD_S), seed=n), PPS, FLOOD_S).start()
        for n, kind in enumerate(kinds)
    ]
    if os.geteuid() == 0:  # raw socket: the second SSRC claims the party's own address
        floods.append(
            Flood(
                dest,
                flood_packets("ssrc2_spoofed", int(PPS * FLOOD_S), seed=9),
                PPS,
                FLOOD_S,
                spoof_source=agent.source,
            ).start()  # fmt: skip
        )
    t_flood = time.monotonic() - t_answer
    for f in floods:
        drain(dev, lambda g, f=f: not f.running, timeout=FLOOD_S + 10, into=got)
    streams = {s.label: s for s in dev.rtp_streams()}
    drain(dev, lambda g: len(g.of(LegEnded)) >= 2, into=got)
    sim.join()
    assert out["r"][0] == 0
    assert sum(f.sent for f in floods) >= len(floods) * PPS * FLOOD_S * 0.9

    c = streams["agent"].counters
    assert c.malformed > 0 and c.wrong_pt > 0 and c.foreign > 0
    assert c.relearned == 0 and streams["agent"].source == agent.source
    assert streams["customer"].counters.dropped == 0

    pieces = correlations(got, t_flood + 0.3, t_flood + FLOOD_S - 0.2)
    assert len(pieces) >= 5
    # the same waveform as the fixture while the flood ran (speech decorrelates within a
    # millisecond: noise or silence in its place scores near 0); one piece may dip when
    # PJMEDIA's adaptive jitter buffer moves on a loaded machine
    assert sorted(pieces)[1] > 0.6, pieces
    assert wait_for(lambda: not dev.rtp_streams(), 10.0)  # both legs' streams are closed


def correlations(got: Collected, lo_s: float, hi_s: float) -> list[float]:
    """Best-lag correlation of the agent's tap with the fixture, per 0.25 s speech piece."""
    tap = np.concatenate([f.pcm for f in got.frames[("sim-1", "agent")]])
    source = sf.read(AGENT, dtype="int16")[0][START_S * 8000 :][: SECONDS * 8000]
    ref = g711.ulaw_decode(g711.ulaw_encode(source))
    out = []
    for at in range(int(lo_s * 8000), int(hi_s * 8000) - 2000, 2000):
        piece = ref[at : at + 2000].astype(np.float64)
        if np.sqrt(np.mean(piece * piece)) > 300:
            out.append(round(lag_near(tap, ref, at, at + 2000)[1], 3))
    return out
