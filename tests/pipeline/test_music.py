"""Hold music kept from the decoder (pipeline.music, and its use by the VAD and a party).

Real recorded audio only: the hold music and the speech of the committed
fixtures (three voices, quick turns, digits, spelled letters, DTMF, line noise).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipeline.jobs import JobKind
from pipeline.music import MusicConfig, MusicDetector
from pipeline.party import PartyStream, StreamConfig
from pipeline.vad import SpeechEnd, VadConfig, VadSegmenter
from records.frames import AudioFrame

FIXTURES = Path(__file__).resolve().parent.parent.parent / "fixtures"
RATE = 8000
FRAME = 160  # 20 ms


def leg(name: str) -> np.ndarray:
    pcm, rate = sf.read(FIXTURES / name, dtype="int16")
    assert rate == RATE
    return pcm


def music_span() -> tuple[float, float]:
    ref = json.loads((FIXTURES / "conv.json").read_text())
    (span,) = [s for s in ref["spans"] if s["kind"] == "music"]
    assert span["party"] == "agent"
    return span["start"], span["end"]


def segments(pcm: np.ndarray, config: VadConfig | None = None) -> list[SpeechEnd]:
    vad = VadSegmenter(RATE, config)
    events = [e for i in range(0, pcm.size, FRAME) for e in vad.push(pcm[i : i + FRAME], i)]
    return [e for e in events + vad.flush() if isinstance(e, SpeechEnd)]


def test_frames_of_hold_music_are_music_and_silence_after_it_is_not():
    a, b = music_span()
    pcm = leg("conv_agent.wav")[int(a * RATE) : int(b * RATE)]
    pcm = np.concatenate((pcm, np.zeros(RATE // 2, np.int16)))
    detector = MusicDetector(RATE, 20)
    flags = [detector.push(pcm[i : i + FRAME]) for i in range(0, pcm.size - FRAME + 1, FRAME)]
    music = flags[: -RATE // 2 // FRAME]
    assert sum(music) / len(music) > 0.5
    assert not any(flags[-RATE // 2 // FRAME + 1 :])  # music that stops is over at once
    assert detector.music_frames == sum(flags)


def test_a_segment_of_hold_music_is_judged_music():
    a, b = music_span()
    pcm = leg("conv_agent.wav")
    inside = [e for e in segments(pcm) if e.start >= (a + 0.5) * RATE and e.end <= b * RATE]
    assert inside and all(e.music for e in inside)


@pytest.mark.parametrize(
    "name",
    ["conv_agent.wav", "conv_customer.wav", "call1_agent.wav", "call1_customer.wav",
     "call2_agent.wav", "call2_customer.wav", "card_customer.wav", "short_answers.wav"],
)  # fmt: skip
def test_no_segment_of_speech_is_judged_music(name):
    a, b = music_span()
    ends = segments(leg(name))
    speech = [e for e in ends if name != "conv_agent.wav" or not a - 0.5 < e.start / RATE < b]
    assert len(speech) >= 5 and not any(e.music for e in speech)


def test_turned_off_nothing_is_music():
    a, b = music_span()
    pcm = leg("conv_agent.wav")[int(a * RATE) : int(b * RATE)]
    off = VadConfig(music=MusicConfig(enabled=False))
    ends = segments(pcm, off)
    assert ends and not any(e.music for e in ends)
    assert sum(e.end - e.start for e in ends) > sum(e.end - e.start for e in segments(pcm))


def jobs_of(pcm: np.ndarray, config: StreamConfig) -> list:
    stream = PartyStream("c", "agent", RATE, config)
    jobs = []
    for i in range(0, pcm.size, FRAME):
        jobs += stream.push(AudioFrame("c", "agent", RATE, i, pcm[i : i + FRAME]), now_s=i / RATE)
    return jobs + stream.flush(now_s=pcm.size / RATE)


def test_a_party_marks_finals_of_music_and_stops_asking_partials_of_it():
    a, b = music_span()
    pcm = leg("conv_agent.wav")[int((a - 1) * RATE) : int(b * RATE)]
    jobs = jobs_of(pcm, StreamConfig())
    finals = [j for j in jobs if j.kind is JobKind.FINAL]
    assert sum(j.music for j in finals) >= len(finals) - 1  # the first holds speech's end
    off = jobs_of(pcm, StreamConfig(vad=VadConfig(music=MusicConfig(enabled=False))))
    assert not any(j.music for j in off)

    def decoded(jobs: list) -> float:  # s of audio sent for partial decodes
        return sum(j.audio.size / j.sample_rate for j in jobs if j.kind is JobKind.PARTIAL)

    # a segment is judged as it grows: a partial or two of its first second still go out
    assert decoded(jobs) < 0.1 * decoded(off)


@pytest.mark.parametrize(
    "bad",
    [dict(window_ms=100), dict(recent_ms=0), dict(recent_ms=2000), dict(max_low_energy=1.5),
     dict(min_persistence=-0.1)],
)  # fmt: skip
def test_config_is_checked(bad):
    with pytest.raises(ValueError):
        MusicConfig(**bad)


def test_no_text_from_hold_music_and_the_words_after_it_are_heard(engine):
    """The agent's leg from "... available representative" over 15 s of hold music to
    "Thank you for your patience", through the pipeline with the real model."""
    from bench.conversation import drive
    from bench.realtime import Collector
    from listenin.replay import PartyAudio
    from pipeline.runtime import Pipeline, PipelineConfig
    from records.events import TranscriptFinal

    a, b = music_span()
    start = a - 4.0
    pcm = leg("conv_agent.wav")[int(start * RATE) : int((b + 2.0) * RATE)]
    events = Collector()
    pipeline = Pipeline(engine, events, PipelineConfig(StreamConfig(), 2))
    try:
        drive(pipeline, {"c": [PartyAudio("agent", RATE, pcm)]}, fast=True)
        rejected = pipeline.stats.rejected_decodes
    finally:
        pipeline.close()
    words = [w for e in events.events if isinstance(e, TranscriptFinal) for w in e.words]
    text = " ".join(w.text.lower() for w in words)
    assert "representative" in text and "patience" in text
    in_music = [w.text for w in words if a - start + 0.2 < (w.start + w.end) / 2 < b - start]
    assert in_music == []
    assert rejected >= 1  # the music's segments, not decoded


def test_a_decode_in_what_may_be_music_is_dropped_when_the_model_doubts_speech():
    """A segment that only may be music is decoded, but its text goes only when the model
    rates it likely speech: hold music's "Hey, hey," came with no-speech prob 0.86, real
    speech on the fixtures at most 0.55."""
    from bench.soak import StubEngine
    from pipeline.asr import AsrResult
    from pipeline.jobs import AsrJob
    from pipeline.workers import AsrWorkerPool

    class Doubtful(StubEngine):
        def transcribe(self, audio, *, word_timestamps, partial=False):
            r = super().transcribe(audio, word_timestamps=word_timestamps)
            return AsrResult(r.text, r.words, float(audio[0]), r.avg_logprob, r.compression_ratio)

    got: dict[str, AsrResult] = {}
    pool = AsrWorkerPool(Doubtful(), lambda job, result: got.update({job.segment_id: result}), 1)
    try:
        for seg, no_speech, doubt in (("a", 0.9, 0.7), ("b", 0.5, 0.7), ("c", 0.9, 0.0)):
            audio = np.full(16000, no_speech, np.float32)
            pool.submit(AsrJob("c", "agent", seg, JobKind.FINAL, 1, 0, audio, 16000, 0.0,
                               music_like=doubt))  # fmt: skip
        pool.wait_idle()
    finally:
        pool.close()
    assert got["a"].rejected == "music" and got["a"].text == ""
    assert got["b"].text == got["c"].text == "hello there"
