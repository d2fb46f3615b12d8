"""The pjsua2 device against the simulator: real SIP and RTP on loopback."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import soundfile as sf

from records.device import LegAnswered, LegEnded, LegRejected, StreamStats
from softphone.admission import PartyRoles

from .conftest import ROOT, Collected, device_config, drain, run_sim

AGENT = ROOT / "fixtures" / "call1_agent.wav"


def sim_in_background(target: str, *args: str) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def go() -> None:
        out["rc"], out["legs"] = run_sim(target, *args)

    t = threading.Thread(target=go)
    t.start()
    return t, out


def ended(n: int):
    return lambda got: len(got.of(LegEnded)) >= n


def envelope(pcm: np.ndarray, rate: int) -> np.ndarray:
    x = pcm.astype(np.float32)
    hop = rate // 100  # 10 ms energy envelope
    x = x[: x.size // hop * hop].reshape(-1, hop)
    return np.sqrt((x**2).mean(axis=1))


def correlate(frames, reference: np.ndarray, rate: int) -> float:
    """Best envelope correlation of the tapped audio with the 8 kHz source, over 0-1 s lag
    (the tap lags the source by the jitter buffer; resampling makes waveforms incomparable)."""
    tap = envelope(np.concatenate([f.pcm for f in frames]), rate)
    ref = envelope(reference, 8000)
    best = 0.0
    for lag in range(0, 100):
        a = tap[lag : lag + ref.size]
        b = ref[: a.size]
        if a.size < 100:
            break
        best = max(best, float(np.corrcoef(a, b)[0, 1]))
    return best


def test_two_stream_invite_is_answered_and_each_party_tapped(make_device):
    roles = PartyRoles()
    roles.set("sim-1", "sim-1-1", "agent")
    dev = make_device(roles=roles)
    t, sim = sim_in_background(f"sip:listenin@{dev.address}", "--form", "two-streams",
                               "--seconds", "3")  # fmt: skip
    got = drain(dev, ended(1))
    t.join()
    assert sim["rc"] == 0 and sim["legs"][0]["answered"]
    (answered,) = got.of(LegAnswered)
    assert answered.session_id == "sim-1" and answered.identified_by == "ringcentral"
    assert [s.label for s in answered.streams] == ["agent", "sim-1-2"]
    assert set(got.frames) == {("sim-1", "agent"), ("sim-1", "sim-1-2")}
    (leg_end,) = got.of(LegEnded)
    assert set(leg_end.labels) == {"agent", "sim-1-2"}
    for frames in got.frames.values():  # contiguous on one call clock, 20 ms G.711 at 8 kHz
        assert {f.sample_rate for f in frames} == {8000}
        starts = [f.start for f in frames]
        assert starts == list(range(starts[0], starts[0] + 160 * len(frames), 160))
        assert 2.5 <= len(frames) * 0.02 <= 5.0
    ref = sf.read(AGENT, dtype="int16")[0][: 3 * 8000]
    assert correlate(got.frames[("sim-1", "agent")], ref, 8000) > 0.8
    assert correlate(got.frames[("sim-1", "sim-1-2")], ref, 8000) < 0.3  # not swapped
    assert dev.stats.dropped_frames == 0


def test_per_party_invites_share_the_session_clock(make_device):
    dev = make_device()
    t, sim = sim_in_background(f"sip:listenin@{dev.address}", "--form", "per-party",
                               "--seconds", "2")  # fmt: skip
    got = drain(dev, ended(2))
    t.join()
    assert sim["rc"] == 0 and len(sim["legs"]) == 2
    assert {a.session_id for a in got.of(LegAnswered)} == {"sim-1"}
    firsts = [frames[0].start for frames in got.frames.values()]
    assert len(firsts) == 2 and abs(firsts[0] - firsts[1]) <= 160 * 5  # within 100 ms (8 kHz)


def test_generic_headers_carry_the_role(make_device):
    dev = make_device()
    t, sim = sim_in_background(f"sip:listenin@{dev.address}", "--form", "headers",
                               "--seconds", "1")  # fmt: skip
    got = drain(dev, ended(2))
    t.join()
    assert sorted(k[1] for k in got.frames) == ["agent", "customer"]
    assert {a.identified_by for a in got.of(LegAnswered)} == {"headers"}


def test_untrusted_source_is_refused_with_403(make_device):
    dev = make_device(device_config(trusted=("127.0.0.1:9",)))
    rc, legs = run_sim(f"sip:listenin@{dev.address}", "--seconds", "1")
    assert rc == 3 and legs[0]["status"] == 403
    got = drain(dev, lambda g: g.of(LegRejected), timeout=5)
    assert got.of(LegRejected)[0].reason.startswith("untrusted source 127.0.0.1:")
    assert not got.frames and dev.stats.answered == 0


def test_unidentified_or_malformed_invite_is_refused(make_device):
    dev = make_device(device_config(require_identification=True))
    target = f"sip:listenin@{dev.address}"
    rc, legs = run_sim(target, "--seconds", "1", "--form", "bare")
    assert rc == 3 and {leg["status"] for leg in legs} == {403}
    rc, legs = run_sim(target, "--seconds", "1", "--form", "bare",
                       "--header", "p-rc-api-monitoring-ids: party-id")  # fmt: skip
    assert rc == 3 and {leg["status"] for leg in legs} == {400}
    got = drain(dev, lambda g: len(g.of(LegRejected)) >= 4, timeout=5)
    reasons = sorted(r.reason for r in got.of(LegRejected))
    assert reasons[0].startswith("INVITE does not identify") and "malformed" in reasons[-1]
    assert not got.frames


def test_call_limit_answers_486(make_device):
    dev = make_device(device_config(max_calls=1))
    rc, legs = run_sim(f"sip:listenin@{dev.address}", "--sessions", "2", "--seconds", "1")
    assert rc == 3
    assert sorted(leg["status"] for leg in legs) == [200, 486]
    got = drain(dev, lambda g: g.of(LegRejected) and g.of(LegEnded), timeout=10)
    assert "1-call limit" in got.of(LegRejected)[0].reason


def test_the_wheels_fifth_call_is_486_and_logged(make_device):
    dev = make_device()
    rc, legs = run_sim(f"sip:listenin@{dev.address}", "--sessions", "5", "--seconds", "1")
    assert sorted(leg["status"] for leg in legs) == [200, 200, 200, 200, 486]
    got = drain(dev, lambda g: g.of(LegRejected) and len(g.of(LegEnded)) >= 4, timeout=10)
    assert "PJSUA_MAX_CALLS" in got.of(LegRejected)[0].reason


@pytest.mark.parametrize("codec,srtp", [("G722", False), ("PCMA", True)])
def test_codecs_and_srtp_through_pjsua2_peer(make_device, codec, srtp):
    dev = make_device()
    args = ["--engine", "pjsua2", "--form", "headers", "--codec", codec, "--seconds", "3"]
    t, sim = sim_in_background(f"sip:listenin@{dev.address}", *args, *(["--srtp"] if srtp else []))
    got = Collected()
    drain(dev, lambda g: g.of(StreamStats) and ended(2)(g), into=got)
    t.join()
    assert sim["rc"] == 0
    assert {s.codec for s in got.of(StreamStats)} == {codec}
    rate = 16000 if codec == "G722" else 8000  # the tap runs at the codec's rate
    for frames in got.frames.values():
        assert {(f.sample_rate, f.pcm.size) for f in frames} == {(rate, rate // 50)}
    ref = sf.read(AGENT, dtype="int16")[0][: 3 * 8000]
    assert correlate(got.frames[("sim-1", "agent")], ref, rate) > 0.8


def test_stats_report_packets_and_jitter_buffer(make_device):
    dev = make_device()
    t, _ = sim_in_background(f"sip:listenin@{dev.address}", "--seconds", "2.5")
    got = drain(dev, lambda g: g.of(StreamStats) and ended(1)(g))
    t.join()
    stats = got.of(StreamStats)[-1]
    assert stats.rx_packets >= 40 and stats.lost == 0 and stats.codec == "PCMU"
    assert stats.jb_delay_ms > 0
