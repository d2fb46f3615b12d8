"""Speaker labels on mixed audio: clustering and segment turns with synthetic
embeddings (exact labels), then real voices and the real pipeline with tiny.en."""

import json
import threading

import numpy as np
import pytest
import soundfile as sf
import soxr

from listenin.replay import PartyAudio, load_party, mix_parties, replay
from pipeline.diarize import (
    ROLE,
    DiarizeConfig,
    SegmentDiarizer,
    SpeakerTurn,
    label_words,
)
from pipeline.jobs import JobKind
from pipeline.party import PartyStream, StreamConfig
from pipeline.runtime import Pipeline, PipelineConfig
from records.events import TranscriptFinal, Word
from records.frames import AudioFrame
from records.kinds import StreamKind
from tests.conftest import FIXTURES

RATE = 16000


def unit(*v: float) -> np.ndarray:
    a = np.array(v, dtype=np.float32)
    return a / np.linalg.norm(a)


# -- segments with a fake encoder --------------------------------------------
# Speaker k's "audio" is the constant k / 10; the fake encoder embeds a window
# as the share of its samples from each speaker, so a window across a change
# is a blend of two voices, as with a real encoder.


def fake_embed(windows: np.ndarray) -> np.ndarray:
    ids = np.rint(np.asarray(windows) * 10).astype(int)
    out = np.stack([(ids == k).mean(axis=1) for k in range(1, 5)], axis=1) + 1e-6
    return out / np.linalg.norm(out, axis=1, keepdims=True)


class Feed:
    """Pushes 20 ms frames of fake speakers into a diarizer, like the resampler does."""

    def __init__(self, diarizer: SegmentDiarizer) -> None:
        self.d = diarizer
        self.at = 0

    def say(self, speaker: int, seconds: float) -> None:
        n = int(seconds * RATE)
        step = RATE // 50
        for a in range(0, n, step):
            pcm = np.full(min(step, n - a), speaker / 10, dtype=np.float32)
            self.d.audio(AudioFrame("c", "mixed", RATE, self.at, pcm))
            self.at += pcm.size


def segment(d: SegmentDiarizer, feed: Feed, *turns: tuple[int, float]) -> tuple[SpeakerTurn, ...]:
    d.speech_start(feed.at)
    for speaker, seconds in turns:
        feed.say(speaker, seconds)
    return d.speech_end(feed.at)


def spans(turns: tuple[SpeakerTurn, ...]) -> list[tuple[float, float, str]]:
    return [(t.start / RATE, t.end / RATE, t.speaker) for t in turns]


def near(expected: list[tuple[float, float, str]]) -> list:
    """A change is placed between two window centres, then snapped to the quietest 20 ms
    near it: within half a hop (0.2 s) and a frame."""
    return [(pytest.approx(a, abs=0.23), pytest.approx(b, abs=0.23), s) for a, b, s in expected]


def test_a_speaker_change_inside_one_segment_splits_it():
    d = SegmentDiarizer(fake_embed)
    feed = Feed(d)
    turns = segment(d, feed, (1, 6.0), (2, 6.0))
    assert spans(turns) == near([(0.0, 6.0, "speaker_1"), (6.0, 12.0, "speaker_2")])
    assert [t.new for t in turns] == [True, True]


def test_a_b_a_in_one_segment_finds_both_changes():
    d = SegmentDiarizer(fake_embed)
    feed = Feed(d)
    turns = segment(d, feed, (1, 4.0), (2, 4.0), (1, 4.0))
    assert spans(turns) == near(
        [(0.0, 4.0, "speaker_1"), (4.0, 8.0, "speaker_2"), (8.0, 12.0, "speaker_1")]
    )


def test_a_change_is_handed_out_while_the_segment_is_still_open():
    d = SegmentDiarizer(fake_embed)
    feed = Feed(d)
    d.speech_start(0)
    feed.say(1, 4.0)
    assert d.take_changes() == []
    assert d.provisional() is not None and d.provisional().speaker == "speaker_1"
    changes: list[SpeakerTurn] = []
    while not changes:
        feed.say(2, 0.1)
        changes = d.take_changes()
    # found within a window and the confirming hops of the change, not at the next pause
    assert feed.at / RATE - 4.0 <= (1200 + 2 * 400) / 1000
    assert spans(tuple(changes)) == near([(0.0, 4.0, "speaker_1")])
    during = d.provisional()
    assert during is not None and (during.speaker, during.new) == ("speaker_2", True)
    assert d.clusters.count == 1  # a provisional label founds nothing
    feed.say(2, 2.0)
    rest = d.speech_end(feed.at)  # only the turn not yet taken
    assert spans(rest) == near([(4.0, 6.0 + feed.at / RATE - 6.0, "speaker_2")])
    assert d.clusters.count == 2


def test_a_change_snaps_to_the_pause_between_turns():
    d = SegmentDiarizer(fake_embed)
    feed = Feed(d)
    turns = segment(d, feed, (1, 3.0), (0, 0.2), (2, 3.0))  # a 200 ms gap between turns
    assert [t.speaker for t in turns] == ["speaker_1", "speaker_2"]
    assert 3.0 <= turns[0].end / RATE <= 3.2


def test_labels_stay_stable_across_segments_and_short_ones_join_a_known_voice():
    d = SegmentDiarizer(fake_embed)
    feed = Feed(d)
    assert [t.speaker for t in segment(d, feed, (2, 3.0))] == ["speaker_1"]
    feed.say(0, 1.0)  # silence between segments
    assert [t.speaker for t in segment(d, feed, (1, 2.5))] == ["speaker_2"]
    feed.say(0, 1.0)
    assert [t.speaker for t in segment(d, feed, (2, 0.6))] == ["speaker_1"]  # one short window
    feed.say(0, 1.0)
    short = segment(d, feed, (3, 1.0))  # a new voice, but too short to found a speaker
    assert short[0].speaker in ("speaker_1", "speaker_2") and not short[0].new
    assert d.clusters.count == 2
    feed.say(0, 1.0)
    assert [t.speaker for t in segment(d, feed, (3, 2.0))] == ["speaker_3"]


# One voice two ways (k=1: level, k=2: raised; cosine 0.5 between them) and another voice
# (k=3): the embedding of a window is the mean of its samples' vectors, as in fake_embed.
VOICES = {1: unit(1, 0, 0), 2: unit(0.5, 0, 0.866), 3: unit(0, 1, 0)}


def two_ways_embed(windows: np.ndarray) -> np.ndarray:
    ids = np.rint(np.asarray(windows) * 10).astype(int)
    out = sum((ids == k).mean(axis=1)[:, None] * v for k, v in VOICES.items())
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


@pytest.mark.parametrize(("then", "turns"), [(2, 1), (3, 2)])
def test_a_voice_unlike_its_turn_so_far_but_a_known_speaker_is_no_change(then, turns):
    d = SegmentDiarizer(two_ways_embed)
    feed = Feed(d)
    d.speech_start(feed.at)
    for _ in range(8):  # the speaker is known both ways: level and raised in one turn
        feed.say(1, 0.2)
        feed.say(2, 0.2)
    assert len(d.speech_end(feed.at)) == 1
    feed.say(0, 1.0)
    # level, then raised: the raised windows are unlike the level turn (< 0.76), but
    # nearest the speaker's own centroid, alike it as one voice: not a cut through a word
    found = segment(d, feed, (1, 5.0), (then, 3.0))
    assert len(found) == turns
    assert found[0].speaker == "speaker_1"


def test_a_turn_too_short_to_stand_alone_stays_in_its_segment():
    d = SegmentDiarizer(fake_embed)
    feed = Feed(d)
    turns = segment(d, feed, (1, 5.0), (2, 0.4))  # a 0.4 s interjection: no window's majority
    assert [t.speaker for t in turns] == ["speaker_1"]
    assert spans(turns)[0][:2] == (0.0, 5.4)


def test_windows_are_embedded_while_the_segment_is_open():
    d = SegmentDiarizer(fake_embed)
    feed = Feed(d)
    d.speech_start(0)
    feed.say(1, 8.0)
    during = d.windows_embedded
    assert during == 18  # windows at 0, 0.4, ... 6.8 s: the audio completes each in turn
    d.speech_end(feed.at)
    assert d.windows_embedded - during <= 1  # the end adds at most the uncovered tail


def test_no_segment_no_turns():
    d = SegmentDiarizer(fake_embed)
    assert d.speech_end(16000) == ()
    Feed(d).say(1, 2.0)
    assert d.windows_embedded == 0  # no open segment: nothing is embedded


def test_words_take_the_turn_they_fall_in():
    turns = (
        SpeakerTurn(0, 3 * RATE, "agent", ROLE, 1.0, True),
        SpeakerTurn(3 * RATE, 5 * RATE, "customer", ROLE, 1.0, True),
    )
    words = tuple(Word(w, s, s + 0.4, 0.9) for w, s in [("a", 0.5), ("b", 1.5), ("c", 3.5)])
    labelled, speaker, kind = label_words(words, turns, RATE)
    assert [w.speaker for w in labelled] == ["agent", "agent", "customer"]
    assert (speaker, kind) == ("agent", ROLE)
    same, speaker, _ = label_words(words, turns[:1], RATE)
    assert same == words and speaker == "agent"  # one speaker: words stay unlabelled


def test_only_mixed_parties_are_diarized(call1):
    constant = lambda w: np.ones((len(w), 4), dtype=np.float32) / 2  # noqa: E731
    assert PartyStream("c", "agent", 8000, StreamConfig(), constant).diarizer is None
    assert PartyStream("c", "mixed", 8000, StreamConfig()).diarizer is None  # no encoder
    stream = PartyStream("c", "mixed", 8000, StreamConfig(), constant, StreamKind.MIXED)
    pcm = call1["audio"]["agent"][: 8000 * 8]
    finals = []
    for a in range(0, pcm.size, 160):
        jobs = stream.push(AudioFrame("c", "mixed", 8000, a, pcm[a : a + 160]), a / 8000)
        finals += [j for j in jobs if j.kind is JobKind.FINAL]
    finals += [j for j in stream.flush(8.0) if j.kind is JobKind.FINAL]
    assert finals and all(j.speakers for j in finals)
    assert {t.speaker for j in finals for t in j.speakers} == {"speaker_1"}
    for j in finals:  # the turns cover the final's audio
        assert j.speakers[0].start == j.start and j.speakers[-1].end <= j.start + j.audio.size


# -- real voices ------------------------------------------------------------


@pytest.fixture(scope="module")
def call2() -> dict:
    return json.loads((FIXTURES / "call2.json").read_text())


@pytest.fixture(scope="module")
def encoder():
    from models.speaker import load_encoder

    return load_encoder()


def test_real_voices_back_to_back_in_one_segment(call2, encoder):
    def voice(party: str, start_s: float, seconds: float) -> np.ndarray:
        pcm, rate = sf.read(FIXTURES / call2["parties"][party], dtype="float32")
        a = int(start_s * rate)
        return soxr.resample(pcm[a : a + int(seconds * rate)], rate, RATE).astype(np.float32)

    audio = np.concatenate([voice("agent", 1.0, 5.0), voice("customer", 23.0, 5.0)])
    d = SegmentDiarizer(encoder.embed_windows)
    d.speech_start(0)
    for a in range(0, audio.size, 320):
        d.audio(AudioFrame("c", "mixed", RATE, a, audio[a : a + 320]))
    turns = d.speech_end(audio.size)
    assert [t.speaker for t in turns] == ["speaker_1", "speaker_2"]
    assert abs(turns[0].end / RATE - 5.0) <= 0.8  # within one hop of the change


def test_four_real_voices_back_to_back_through_the_stream(call1, call2, encoder):
    """call1's two espeak-ng voices and call2's two real ones take turns with 100 ms
    pauses (shorter than the VAD's hangover, so changes fall inside segments)."""
    two = {f"call2-{p}": load_party(p, FIXTURES / f).pcm for p, f in call2["parties"].items()}
    voices = {**two, **{f"call1-{p}": pcm for p, pcm in call1["audio"].items()}}

    def turn(call: dict, name: str, n: int) -> tuple[str, np.ndarray]:
        u = call["utterances"][n]
        pcm = voices[f"{name}-{u['party']}"]
        return f"{name}-{u['party']}", pcm[int(u["start"] * 8000) : int(u["end"] * 8000)][:48000]

    plan = [(call2, "call2", n) for n in (0, 1, 3)] + [(call1, "call1", 0), (call2, "call2", 2)]
    plan += [(call1, "call1", 1), (call2, "call2", 4), (call1, "call1", 2)]
    pause = np.zeros(800, dtype=np.int16)
    pcm, truth, at = [np.zeros(4000, dtype=np.int16)], [], 4000
    for call, name, n in plan:
        who, audio = turn(call, name, n)
        truth.append((who, at / 8000, (at + audio.size) / 8000))
        pcm += [audio, pause]
        at += audio.size + pause.size
    pcm.append(np.zeros(8000, dtype=np.int16))
    audio = np.concatenate(pcm)
    stream = PartyStream(
        "c", "mixed", 8000, StreamConfig(), encoder.embed_windows, StreamKind.MIXED
    )
    turns = []
    for a in range(0, audio.size, 160):
        jobs = stream.push(AudioFrame("c", "mixed", 8000, a, audio[a : a + 160]), a / 8000)
        turns += [t for j in jobs if j.kind is JobKind.FINAL for t in j.speakers]
    turns += [t for j in stream.flush(0) if j.kind is JobKind.FINAL for t in j.speakers]
    merged: list[SpeakerTurn] = []  # the VAD also cuts a voice's turn at max_segment_ms
    for t in turns:
        if merged and merged[-1].speaker == t.speaker:
            t = SpeakerTurn(merged.pop().start, t.end, t.speaker, t.kind, t.similarity)
        merged.append(t)
    names: dict[str, str] = {}  # true voice -> label, by order of appearance
    for who, _, _ in truth:
        names.setdefault(who, f"speaker_{len(names) + 1}")
    assert [t.speaker for t in merged] == [names[who] for who, _, _ in truth], spans(merged)
    assert stream.diarizer is not None and stream.diarizer.clusters.count == 4
    for t, (_, _, end) in list(zip(merged, truth, strict=True))[:-1]:
        # within one window: where the 0.8 s hop grid falls relative to the change
        # (it follows the VAD's segment starts) moves the found change by up to a hop
        assert abs(t.end / RATE - end) < 1.6


class Events(list):
    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()

    def __call__(self, ev):
        with self.lock:
            self.append(ev)


def true_party(call: dict, t_s: float) -> str:
    return min(call["utterances"], key=lambda u: max(u["start"] - t_s, t_s - u["end"], 0.0))[
        "party"
    ]


def test_mixed_real_call_through_the_pipeline(engine, call2):
    """call2's two real voices summed into one stream, first 36 s, real tiny.en."""
    parties = [load_party(p, FIXTURES / f) for p, f in call2["parties"].items()]
    full = mix_parties(parties)
    mixed = PartyAudio(
        "mixed", full.sample_rate, full.pcm[: 36 * full.sample_rate], StreamKind.MIXED
    )
    events = Events()
    config = PipelineConfig(StreamConfig(diarize=DiarizeConfig(roles=("agent", "customer"))))
    pipeline = Pipeline(engine, events, config)
    replay(pipeline, "mixed-call", [mixed], realtime=False)
    pipeline.close()
    finals = [e for e in events if isinstance(e, TranscriptFinal) and e.text]
    assert finals and all(f.party == "mixed" and f.speaker_kind == ROLE for f in finals)
    words = [(w, f) for f in finals for w in f.words if any(c.isalnum() for c in w.text)]
    said_by = [true_party(call2, (w.start + w.end) / 2) for w, _ in words]
    right = sum((w.speaker or f.speaker) == p for (w, f), p in zip(words, said_by, strict=True))
    assert len(words) > 60
    assert right / len(words) >= 0.95, [(f.speaker, f.text) for f in finals]
    # each party's first final already carries that party's label
    for party in ("agent", "customer"):
        first = min(
            (f for f in finals if true_party(call2, (f.start + f.end) / 2) == party),
            key=lambda f: f.emitted_at,
        )
        assert first.speaker == party
        assert first.to_dict()["speaker"] == party and first.to_dict()["speaker_kind"] == ROLE


def test_without_the_encoder_mixed_audio_is_transcribed_unlabelled(
    engine, call1, monkeypatch, caplog
):
    import models.speaker
    from models import ModelError

    def missing():
        raise ModelError("speaker encoder not installed: pip install ...")

    monkeypatch.setattr(models.speaker, "weights_path", missing)
    events = Events()
    pipeline = Pipeline(engine, events)
    mixed = PartyAudio("mixed", 8000, call1["audio"]["agent"][: 8000 * 7], StreamKind.MIXED)
    replay(pipeline, "no-encoder", [mixed], realtime=False)
    pipeline.close()
    finals = [e for e in events if isinstance(e, TranscriptFinal) and e.text]
    assert finals and all(f.speaker is None and f.speaker_kind is None for f in finals)
    assert "no speaker labels on mixed audio" in caplog.text


def test_speakers_are_settled_to_the_last_like_window_and_held_back_by_a_coming_change():
    """``settled`` is how far a commit may cut on a clause end: the middle of the open
    turn's last window that voted "same", well behind a change that is still being voted."""
    d = SegmentDiarizer(fake_embed)
    feed = Feed(d)
    assert d.settled() is None  # no segment
    d.speech_start(0)
    feed.say(1, 0.6)
    assert d.settled() is None  # no window yet: nothing known past the turn's start
    feed.say(1, 3.4)
    at = d.settled()
    assert at is not None and 4.0 - 1.0 <= at / RATE <= 4.0 - 0.6  # a window's half behind
    feed.say(2, 0.9)  # the first windows across the change vote for it
    assert d._pending and d.settled() <= 4.0 * RATE  # nothing of speaker 2 is settled
    while not d.take_changes():
        feed.say(2, 0.1)
    assert d.settled() is not None and d.settled() >= 4.0 * RATE - d._snap
