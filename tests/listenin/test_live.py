"""The live job end to end: simulator -> SIP/RTP -> device -> pipeline -> finals."""

from __future__ import annotations

from bench.soak import drive, short_call
from listenin.live import LiveJob
from listenin.replay import PartyAudio, replay
from listenin.wer import word_error_rate
from pbxsim.g711 import ulaw_decode, ulaw_encode
from pipeline.load import LoadConfig
from pipeline.runtime import Pipeline, PipelineConfig
from records.events import CallEnded, TranscriptFinal
from softphone.admission import PartyRoles

from ..pipeline.test_runtime import GatedEngine
from ..softphone.conftest import device_config, run_sim

SECONDS = 30.0  # call2 (real speech): the agent's first turn, the customer's first answer


def reference(call: dict, until: float) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    for u in call["utterances"]:
        if u["end"] <= until:
            out.setdefault(u["party"], []).append(u["text"])
    return {p: " ".join(t) for p, t in out.items()}


def finals_by_party(events: list) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    for e in sorted((e for e in events if isinstance(e, TranscriptFinal)), key=lambda e: e.start):
        if e.text:
            out.setdefault(e.party, []).append(e.text)
    return {p: " ".join(t) for p, t in out.items()}


def wer(ref: dict[str, str], hyp: dict[str, str]) -> float:
    """Per-party WER, word-weighted: a final under the wrong party counts as errors."""
    words = sum(len(r.split()) for r in ref.values())
    return sum(word_error_rate(r, hyp.get(p, "")) * len(r.split()) for p, r in ref.items()) / words


def test_sip_transcript_matches_offline_replay(call2, engine):
    events: list = []
    roles = PartyRoles()  # what a platform adapter would tell the device
    roles.set("sim-1", "sim-1-1", "agent")
    roles.set("sim-1", "sim-1-2", "customer")

    def sink(event):
        events.append(event)
        job.note_event(event)

    pipeline = Pipeline(engine, sink, PipelineConfig(asr_workers=2))
    job = LiveJob(pipeline, device_config(), roles)
    job.start()
    try:
        rc, legs = run_sim(f"sip:listenin@{job.address}", "--form", "two-streams",
                           "--fixture", "call2", "--seconds", str(SECONDS))  # fmt: skip
        assert rc == 0 and legs[0]["answered"]
        assert job.wait_calls_ended(1, 60)
    finally:
        job.stop()
        pipeline.close()
    assert isinstance(events[-1], CallEnded)
    ref = reference(call2, SECONDS)
    live = finals_by_party(events)
    assert set(live) == {"agent", "customer"}

    offline: list = []
    replayed = Pipeline(engine, offline.append, PipelineConfig(asr_workers=2))
    n = int(SECONDS * call2["sample_rate"])
    # the same audio as it crossed the wire: G.711 u-law (PCMU)
    parties = [PartyAudio(p, call2["sample_rate"], ulaw_decode(ulaw_encode(a[:n])))
               for p, a in call2["audio"].items()]  # fmt: skip
    replay(replayed, "offline", parties, realtime=False)
    replayed.close()
    sip_wer, replay_wer = wer(ref, live), wer(ref, finals_by_party(offline))
    print(f"WER over SIP {sip_wer:.3f}, offline replay {replay_wer:.3f}")
    assert sip_wer <= replay_wer * 1.10 + 0.02  # the pipeline-core bound plus 2 points


def test_a_pipeline_behind_on_finals_makes_the_device_refuse_new_calls():
    engine = GatedEngine()  # holds every final until its gate is set
    pipeline = Pipeline(engine, lambda e: None, PipelineConfig(asr_workers=1))
    now = [0.0]  # the gate's clock, driven by the test
    load = LoadConfig(max_lag_ms=0, max_queued_finals=1, hold_s=5.0)
    job = LiveJob(pipeline, device_config(), load=load, clock=lambda: now[0])  # never started
    assert job.device.busy == job.busy  # the device asks the job before admitting
    parties = short_call(2.0)
    try:
        assert job.device.busy() is None
        for call_id in ("a", "b"):  # four finals, one worker held on the first
            drive(pipeline, call_id, parties)
        reason = job.device.busy()
        assert reason is not None and "finals queued" in reason
        engine.gate.set()
        assert pipeline.pool.wait_idle(30)
        now[0] = 4.0
        assert job.device.busy() == reason  # caught up, but the hold time has not passed
        now[0] = 5.0
        assert job.device.busy() is None
    finally:
        engine.gate.set()
        pipeline.close()
    assert job.gate.trips == 1
