"""Diarization at turn speed: call2's real voices taking quick turns (0-300 ms gaps,
some overlaps; fixtures/quickturns.py), through the mixed stream and the pipeline."""

import threading

import numpy as np
import pytest

from fixtures.quickturns import Conversation, quick_turns
from listenin.replay import PartyAudio, replay
from pipeline.diarize import DiarizeConfig
from pipeline.jobs import AsrJob, JobKind
from pipeline.party import PartyStream, StreamConfig
from pipeline.runtime import Pipeline, PipelineConfig
from records.events import TranscriptFinal, TranscriptPartial
from records.frames import AudioFrame
from records.kinds import StreamKind

RATE = 16000
ROLES = ("agent", "customer")


@pytest.fixture(scope="module")
def conv() -> Conversation:
    return quick_turns()


@pytest.fixture(scope="module")
def encoder():
    from models.speaker import load_encoder

    return load_encoder()


def test_the_conversation_takes_quick_turns(conv):
    gaps = [b[1] - a[2] for a, b in zip(conv.turns, conv.turns[1:], strict=False)]
    assert len(conv.turns) >= 20 and {p for p, _, _ in conv.turns} == set(ROLES)
    assert conv.overlaps >= 2 and sum(g < 0 for g in gaps) == conv.overlaps
    assert max(gaps) <= 0.3


def stream_jobs(conv: Conversation, embed) -> tuple[PartyStream, list[AsrJob]]:
    config = StreamConfig(diarize=DiarizeConfig(roles=ROLES))
    stream = PartyStream("c", "mixed", conv.sample_rate, config, embed, StreamKind.MIXED)
    pcm, n = conv.mixed, conv.sample_rate // 50
    jobs: list[AsrJob] = []
    for a in range(0, pcm.size, n):
        frame = AudioFrame("c", "mixed", conv.sample_rate, a, pcm[a : a + n])
        jobs += stream.push(frame, a / conv.sample_rate)
    jobs += stream.flush(pcm.size / conv.sample_rate)
    return stream, jobs


def test_every_turn_is_cut_and_labelled_as_it_is_spoken(conv, encoder):
    stream, jobs = stream_jobs(conv, encoder.embed_windows)
    finals = [j for j in jobs if j.kind is JobKind.FINAL]
    turns = [t for j in finals for t in j.speakers]
    levels = conv.levels()
    right = total = 0
    for i in range(levels["agent"].size):  # speech time, 20 ms at a time
        t = (i + 0.5) * 0.02
        truth = conv.who(t, levels)
        if truth is not None:
            total += 1
            right += any(a.start <= t * RATE < a.end and a.speaker == truth for a in turns)
    assert right / total >= 0.9
    assert stream.diarizer is not None and stream.diarizer.clusters.count == 2
    assert {t.speaker for t in turns} == set(ROLES)  # labels never swap or multiply
    # most changes cut the segment: the next final starts where the last one ended
    cuts = sum(a.start + a.audio.size == b.start for a, b in zip(finals, finals[1:], strict=False))
    assert cuts >= len(conv.turns) // 2
    # partials carry the open turn's provisional label, mostly the one its final gets
    partials = [j for j in jobs if j.kind is JobKind.PARTIAL and j.speakers]
    assert partials and all(len(j.speakers) == 1 for j in partials)
    final_of = {j.segment_id: max(j.speakers, key=lambda t: t.end - t.start) for j in finals}
    agree = [j.speakers[0].speaker == final_of[j.segment_id].speaker for j in partials]
    assert np.mean(agree) >= 0.9


class Events(list):
    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()

    def __call__(self, ev):
        with self.lock:
            self.append(ev)


def test_words_of_quick_turns_get_their_speaker_through_the_pipeline(engine, conv):
    """The first 45 s of the conversation through the live pipeline with tiny.en."""
    mixed = PartyAudio("mixed", conv.sample_rate, conv.mixed[: 45 * conv.sample_rate])
    mixed = PartyAudio(mixed.party, mixed.sample_rate, mixed.pcm, StreamKind.MIXED)
    events = Events()
    config = PipelineConfig(StreamConfig(diarize=DiarizeConfig(roles=ROLES)))
    pipeline = Pipeline(engine, events, config)
    replay(pipeline, "quick", [mixed], realtime=False)
    pipeline.close()
    levels = conv.levels()
    finals = [e for e in events if isinstance(e, TranscriptFinal) and e.text]
    said = [
        ((w.speaker or f.speaker), conv.who((w.start + w.end) / 2, levels))
        for f in finals
        for w in f.words
        if any(c.isalnum() for c in w.text)
    ]
    said = [(got, truth) for got, truth in said if truth is not None]
    assert len(said) > 60
    assert np.mean([got == truth for got, truth in said]) >= 0.9
    partials = [e for e in events if isinstance(e, TranscriptPartial)]
    labelled = [p for p in partials if p.speaker is not None]
    assert labelled and {p.speaker for p in labelled} <= set(ROLES)
    assert labelled[0].to_dict()["speaker_kind"] == "role"
