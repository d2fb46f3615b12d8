"""Keyed digits end to end: pbxsim keys RFC 4733 telephone-events over real SIP/RTP ->
device -> feed -> pipeline -> ``dtmf`` events (and no text for them)."""

from __future__ import annotations

from listenin.live import LiveJob
from pipeline.runtime import Pipeline, PipelineConfig
from records.events import Dtmf, TranscriptFinal

from ..softphone.conftest import device_config, run_sim


def test_telephone_events_become_dtmf_events(engine):
    events: list = []

    def sink(event):
        events.append(event)
        job.note_event(event)

    pipeline = Pipeline(engine, sink, PipelineConfig(asr_workers=1))
    job = LiveJob(pipeline, device_config())
    job.start()
    try:
        rc, legs = run_sim(f"sip:listenin@{job.address}", "--form", "per-party", "--seconds",
                           "3", "--dtmf", "4#1", "--dtmf-at-s", "1.0")  # fmt: skip
        assert rc == 0 and all(leg["answered"] for leg in legs)
        assert job.wait_calls_ended(1, 60)
    finally:
        job.stop()
        pipeline.close()
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
