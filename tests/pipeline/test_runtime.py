"""The whole pipeline on the bundled call, with the real model."""

import threading

import numpy as np
import pytest

from listenin.replay import PartyAudio, frames, load_party, replay
from listenin.wer import word_error_rate
from pipeline.commit import CommitConfig
from pipeline.load import Load
from pipeline.party import StreamConfig
from pipeline.runtime import Pipeline, PipelineConfig
from records.events import TranscriptFinal, TranscriptPartial
from records.frames import AudioFrame


class Events(list):
    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()

    def __call__(self, ev):
        with self.lock:
            self.append(ev)


@pytest.fixture(scope="module")
def replayed(engine, call1):
    events = Events()
    pipeline = Pipeline(engine, events, PipelineConfig(asr_workers=2))
    parties = [load_party(p, path) for p, path in call1["paths"].items()]
    replay(pipeline, "call-1", parties, realtime=False)
    pipeline.close()
    return pipeline, list(events)


def test_transcript_matches_reference_per_party(replayed, call1):
    pipeline, events = replayed
    finals = [e for e in events if isinstance(e, TranscriptFinal)]
    assert finals and all(e.call_id == "call-1" for e in finals)
    for party in ("agent", "customer"):
        ref = " ".join(u["text"] for u in call1["utterances"] if u["party"] == party)
        hyp = " ".join(f.text for f in sorted(finals, key=lambda f: f.start) if f.party == party)
        assert word_error_rate(ref, hyp) < 0.5, (party, hyp)  # synthetic voices at 8 kHz


def test_every_final_is_labelled_with_the_party_that_spoke(replayed, call1):
    _, events = replayed
    for f in (e for e in events if isinstance(e, TranscriptFinal) and e.text):
        overlapping = [
            u["party"] for u in call1["utterances"] if u["start"] < f.end and f.start < u["end"]
        ]
        assert overlapping == [f.party], f


def test_event_order_per_call(replayed):
    _, events = replayed
    types = [e.type for e in events]
    assert types[0] == "call.started" and types[-1] == "call.ended"
    assert types.count("party.joined") == 2 and types.count("party.left") == 2
    finalized = set()
    for e in events:
        if isinstance(e, TranscriptFinal):
            finalized.add(e.segment_id)
        elif isinstance(e, TranscriptPartial):
            assert e.segment_id not in finalized, "partial after its final"


def test_chronological_transcript_and_no_drops(replayed):
    pipeline, events = replayed
    finals = [e for e in events if isinstance(e, TranscriptFinal)]
    assert len({f.segment_id for f in finals}) == len(finals) == pipeline.stats.finals
    assert pipeline.stats.dropped_frames == 0 and pipeline.stats.finals_refused == 0
    assert pipeline.open_calls == 0  # the ended call left the pipeline


def test_partials_come_while_speaking(engine, call1):
    events = Events()
    pipeline = Pipeline(engine, events)
    parties = [load_party("agent", call1["paths"]["agent"])]
    # call pace with an instant recogniser: every "sleep" waits for the workers to finish
    now = [0.0]

    def sleep(seconds):
        pipeline.pool.wait_idle()
        now[0] += seconds

    replay(pipeline, "c", parties, realtime=True, clock=lambda: now[0], sleep=sleep)
    pipeline.close()
    partials = [e for e in events if isinstance(e, TranscriptPartial)]
    finals = {e.segment_id: e for e in events if isinstance(e, TranscriptFinal)}
    shown = {p.segment_id for p in partials}
    # every agent turn; the short rest of a turn after a streaming commit may go straight
    # to its final
    assert len(shown) >= 7 and len(shown) >= len(finals) - pipeline.stats.commits
    for p in partials:
        assert p.segment_id in finals and p.emitted_at <= finals[p.segment_id].emitted_at


def test_partials_no_output_wants_are_not_decoded(engine, call1):
    events = Events()
    # without the streaming commit a partial is only for the eye
    stream = StreamConfig(commit=CommitConfig(enabled=False))
    pipeline = Pipeline(engine, events, PipelineConfig(stream=stream))
    asked = []
    pipeline.partials_wanted = lambda call, party: asked.append((call, party)) or False
    replay(pipeline, "c", [load_party("agent", call1["paths"]["agent"])], realtime=False)
    pipeline.close()
    assert not [e for e in events if isinstance(e, TranscriptPartial)]
    assert len([e for e in events if isinstance(e, TranscriptFinal) and e.text]) >= 7
    assert pipeline.stats.partials_skipped == len(asked) > 0 and set(asked) == {("c", "agent")}


def test_partials_that_drive_the_commit_are_decoded_but_not_shown(engine, call2):
    events = Events()
    pipeline = Pipeline(engine, events)
    pipeline.partials_wanted = lambda call, party: False
    pcm = call2["audio"]["customer"][8000 * 22 : 8000 * 34]
    for t, frame in frames("c", [PartyAudio("customer", 8000, pcm)]):
        if round(t * 50) % 5 == 0:
            pipeline.pool.wait_idle()  # every decode back before 100 ms more audio comes
        pipeline.push(frame)
    pipeline.end_call("c")
    pipeline.pool.wait_idle()
    pipeline.close()
    assert not [e for e in events if isinstance(e, TranscriptPartial)]
    assert pipeline.stats.partials_skipped == 0 and pipeline.stats.commits >= 1
    assert [e for e in events if isinstance(e, TranscriptFinal) and e.text]


def test_bad_frames_are_counted_not_fatal(engine):
    events = Events()
    pipeline = Pipeline(engine, events)
    pipeline.push(AudioFrame("c", "agent", 8000, 0, np.zeros(160, np.int16)))
    pipeline.push(AudioFrame("c", "agent", 16000, 320, np.zeros(320, np.int16)))  # rate change
    pipeline.push(AudioFrame("c", "agent", 8000, 160, np.zeros(160, np.int16)))
    pipeline.end_call("c")
    pipeline.pool.wait_idle()
    pipeline.close()
    assert pipeline.stats.dropped_frames == 1 and pipeline.stats.frames == 3
    assert events[-1].type == "call.ended"


def test_call_limit_refuses_extra_calls(engine):
    events = Events()
    pipeline = Pipeline(engine, events, PipelineConfig(max_calls=1))
    pipeline.push(AudioFrame("a", "agent", 8000, 0, np.zeros(160, np.int16)))
    pipeline.push(AudioFrame("b", "agent", 8000, 0, np.zeros(160, np.int16)))
    pipeline.close()
    assert pipeline.stats.dropped_frames == 1
    assert [e.call_id for e in events if e.type == "call.started"] == ["a"]


def test_real_recorded_speech_is_transcribed_accurately(engine):
    """call2: real voices (Allison Smith prompts, a LibriVox reader) on one call clock."""
    import json
    from pathlib import Path

    fixtures = Path(__file__).resolve().parents[2] / "fixtures"
    ref = json.loads((fixtures / "call2.json").read_text())
    events = Events()
    pipeline = Pipeline(engine, events)
    parties = [load_party(p, fixtures / f) for p, f in ref["parties"].items()]
    replay(pipeline, "real", parties, realtime=False)
    pipeline.close()
    finals = sorted((e for e in events if isinstance(e, TranscriptFinal)), key=lambda f: f.start)
    for party in ref["parties"]:
        r = " ".join(u["text"] for u in ref["utterances"] if u["party"] == party)
        h = " ".join(f.text for f in finals if f.party == party)
        assert word_error_rate(r, h) < 0.15, (party, h)


# -- lifecycle, with the soak benchmark's stub recogniser ---------------------
from bench.soak import CallChecker, StubEngine, drive, short_call  # noqa: E402


@pytest.fixture(scope="module")
def short_parties():
    return short_call(2.0)


def test_an_ended_call_leaves_the_pipeline_and_its_id_can_come_again(short_parties):
    checker = CallChecker()
    seen = []
    pipeline = Pipeline(StubEngine(), lambda e: (seen.append(e), checker(e)))
    for n in range(1, 4):
        drive(pipeline, "same", short_parties)
        assert checker.wait_ended(n)
        assert pipeline.open_calls == 0
    pipeline.close()
    assert checker.complete == 3 and checker.broken == 0
    types = [e.type for e in seen]
    assert types.count("call.started") == 3 and types.count("call.ended") == 3
    assert pipeline.stats.calls_started == pipeline.stats.calls_ended == 3


class GatedEngine(StubEngine):
    """Holds every final decode until ``gate`` is set."""

    def __init__(self):
        self.gate = threading.Event()

    def transcribe(self, audio, *, word_timestamps, partial=False):
        if word_timestamps:
            self.gate.wait(30)
        return super().transcribe(audio, word_timestamps=word_timestamps)


def test_a_reused_id_while_the_old_call_closes_starts_after_its_call_ended(short_parties):
    engine = GatedEngine()
    seen = []
    checker = CallChecker()
    pipeline = Pipeline(engine, lambda e: (seen.append(e.type), checker(e)))
    drive(pipeline, "again", short_parties)  # its finals are held at the gate
    drive(pipeline, "again", short_parties)  # the same id, while the first still closes
    assert seen.count("call.ended") == 0
    engine.gate.set()
    assert checker.wait_ended(2)
    pipeline.close()
    first_end = seen.index("call.ended")
    assert seen.count("call.started") == 2 and seen.index("call.started", 1) > first_end
    assert checker.complete == 2 and pipeline.open_calls == 0


def test_a_blocked_sink_never_blocks_the_producer(short_parties):
    release = threading.Event()
    pipeline = Pipeline(
        StubEngine(), lambda e: release.wait(30) if e.type == "call.started" else None
    )
    feeder = threading.Thread(target=drive, args=(pipeline, "a", short_parties[:1]))
    feeder.start()  # this thread delivers call.started and blocks in the sink
    while pipeline.stats.frames == 0:
        threading.Event().wait(0.01)
    other = threading.Thread(target=drive, args=(pipeline, "b", short_parties[1:]))
    other.start()
    other.join(20)
    stuck = other.is_alive()
    release.set()
    feeder.join(20)
    pipeline.close()
    assert not stuck, "a second producer waited for a blocked sink"


def test_load_reports_the_waiting_finals_and_how_long_the_oldest_waited(short_parties):
    engine = GatedEngine()
    pipeline = Pipeline(engine, lambda e: None, PipelineConfig(asr_workers=1))
    assert pipeline.load() == Load(0.0, 0)
    try:
        for call_id in ("a", "b"):  # each party's finals, one at a time past the gate
            drive(pipeline, call_id, short_parties)
        held = pipeline.load()
        assert held.queued_finals >= 2 and held.lag_ms >= 0.0
        oldest = pipeline.pool.queue.oldest_final
        assert oldest is not None and oldest.call_id == "a"  # FIFO: the first call's
    finally:
        engine.gate.set()
        pipeline.pool.wait_idle(30)
        pipeline.close()
    assert pipeline.load() == Load(0.0, 0)
