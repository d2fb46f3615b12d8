"""Keyed digits end to end: pbxsim keys RFC 4733 telephone-events over real SIP/RTP ->
device -> feed -> pipeline -> ``dtmf`` events (and no text for them)."""

from __future__ import annotations

from listenin.live import LiveJob
from pipeline.runtime import Pipeline, PipelineConfig
from records.events import Dtmf, TranscriptFinal

from ..softphone.conftest import device_config, run_sim


def sim_call(engine, *sim_args: str) -> tuple[int, list, list]:
    """pbxsim calls a live device once; its exit code, legs and the pipeline's events."""
    events: list = []

    def sink(event):
        events.append(event)
        job.note_event(event)

    pipeline = Pipeline(engine, sink, PipelineConfig(asr_workers=1))
    job = LiveJob(pipeline, device_config())
    job.start()
    try:
        rc, legs = run_sim(f"sip:listenin@{job.address}", *sim_args)
        assert rc == 0
        assert job.wait_calls_ended(1, 60)
    finally:
        job.stop()
        pipeline.close()
    return rc, legs, events


def test_telephone_events_become_dtmf_events(engine):
    rc, legs, events = sim_call(engine, "--form", "per-party", "--seconds", "3", "--dtmf", "4#1",
                                "--dtmf-at-s", "1.0")  # fmt: skip
    assert rc == 0 and all(leg["answered"] for leg in legs)
    digits = [e for e in events if isinstance(e, Dtmf)]
    parties = {e.party for e in digits}
    assert parties == {"sim-1-1", "sim-1-2"}, digits
    for party in parties:
        mine = [e for e in digits if e.party == party]
        assert "".join(e.digit for e in mine) == "4#1"
        assert {e.source for e in mine} == {"rfc4733"}
        assert all(0.8 <= e.start < e.end <= 3.5 for e in mine), mine
    text = " ".join(e.text for e in events if isinstance(e, TranscriptFinal)).lower()
    assert text and "beep" not in text  # the fixture's speech goes on around the keys


def test_inband_tones_over_g711_become_dtmf_events_and_no_text(engine, tmp_path):
    """The customer keys a card number in-band: PCMU over real RTP, then the detector."""
    import json

    import numpy as np
    import soundfile as sf

    from ..pipeline.test_keypad import CARD, keyed

    sf.write(tmp_path / "agent.wav", np.zeros(8000 * 5, np.int16), 8000)
    pcm = keyed(CARD, 120, 80, -10)  # 0.3 s quiet, 16 presses (3.2 s), 1.5 s quiet
    sf.write(tmp_path / "customer.wav", pcm, 8000)
    fixture = tmp_path / "keys.json"
    fixture.write_text(json.dumps({"parties": {"agent": "agent.wav", "customer": "customer.wav"},
                                   "duration": pcm.size / 8000}))  # fmt: skip
    rc, _, events = sim_call(engine, "--form", "two-streams", "--fixture", str(fixture))
    assert rc == 0
    digits = [e for e in events if isinstance(e, Dtmf)]
    assert "".join(e.digit for e in digits) == CARD
    assert {(e.party, e.source) for e in digits} == {("sim-1-2", "inband")}
    gaps = np.diff([e.start for e in digits])
    assert np.all(np.abs(gaps - 0.2) < 0.03), gaps  # the presses' spacing survives RTP
    assert not [e for e in events if isinstance(e, TranscriptFinal) and e.text]
