"""Diarization of a call shaped like a real one (fixtures/conv*): the agent opens with a
0.6 s "Hello", the customer answers, then hold music, DTMF and line noise.  The mixed
stream runs without ASR; speech time is scored against the reference utterances."""

import json
from pathlib import Path

import pytest

from listenin.replay import PartyAudio, load_party, mix_parties
from pipeline.diarize import DiarizeConfig, SpeakerTurn
from pipeline.jobs import JobKind
from pipeline.party import PartyStream, StreamConfig
from records.frames import AudioFrame
from records.kinds import StreamKind

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
RATE = 16000
ROLES = ("agent", "customer")


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((FIXTURES / "conv.json").read_text())


@pytest.fixture(scope="module")
def turns(ref) -> list[SpeakerTurn]:
    from models.speaker import load_encoder

    parties = [load_party(p, FIXTURES / f) for p, f in ref["parties"].items()]
    mixed: PartyAudio = mix_parties(parties)
    config = StreamConfig(diarize=DiarizeConfig(roles=ROLES))
    rate, n = mixed.sample_rate, mixed.sample_rate // 50
    stream = PartyStream("c", "mixed", rate, config, load_encoder().embed_windows, StreamKind.MIXED)
    jobs = []
    for a in range(0, mixed.pcm.size, n):
        jobs += stream.push(AudioFrame("c", "mixed", rate, a, mixed.pcm[a : a + n]), a / rate)
    jobs += stream.flush(mixed.pcm.size / rate)
    return [t for j in jobs if j.kind is JobKind.FINAL for t in j.speakers]


def who(ref: dict, t: float) -> str | None:
    """The one party speaking at ``t`` s (None in silence, music, noise or overlap)."""
    said = {u["party"] for u in ref["utterances"] if u["start"] <= t < u["end"]}
    return said.pop() if len(said) == 1 else None


def label_at(turns: list[SpeakerTurn], t: float) -> str | None:
    return next((x.speaker for x in turns if x.start <= t * RATE < x.end), None)


def test_speech_time_gets_its_party_role(ref, turns):
    steps = [(i + 0.5) * 0.02 for i in range(int(ref["duration"] / 0.02))]
    scored = [(label_at(turns, t), truth) for t in steps if (truth := who(ref, t))]
    assert len(scored) > 2000  # 40 s of speech and more
    right = sum(got == truth for got, truth in scored) / len(scored)
    assert right >= 0.9, right


def test_a_short_first_hello_keeps_the_first_role(ref, turns):
    hello = ref["utterances"][0]
    assert (hello["party"], hello["end"] - hello["start"] < 1.0) == ("agent", True)
    assert label_at(turns, (hello["start"] + hello["end"]) / 2) == "agent"
    # the agent's later sentences are the same speaker, not a third one
    later = [u for u in ref["utterances"][2:] if u["party"] == "agent" and u["kind"] == "sentence"]
    assert {label_at(turns, (u["start"] + u["end"]) / 2) for u in later} == {"agent"}
