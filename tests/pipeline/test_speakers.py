"""Online speaker clustering (pipeline/speakers.py) with synthetic embeddings: exact labels."""

import numpy as np
import pytest

from pipeline.speakers import DiarizeConfig, SpeakerClusters
from pipeline.turns import NEUTRAL, ROLE


def unit(*v: float) -> np.ndarray:
    a = np.array(v, dtype=np.float32)
    return a / np.linalg.norm(a)


def test_peek_says_what_assign_would_do_and_changes_nothing():
    c = SpeakerClusters()
    first = c.peek(unit(1, 0, 0), 2000)
    assert (first.label, first.new, c.count) == ("speaker_1", True, 0)
    assert c.assign(unit(1, 0, 0), 2000) == first
    assert c.peek(unit(0, 1, 0), 2000).label == "speaker_2" and c.count == 1
    assert c.peek(unit(0, 1, 0), 500).label == "speaker_1"  # too short to found one


def test_speakers_are_numbered_in_order_of_appearance_and_keep_their_label():
    c = SpeakerClusters()
    a, b = unit(1, 0, 0), unit(0, 1, 0)
    got = [c.assign(v, 3000) for v in (a, b, unit(0.9, 0.1, 0), unit(0.1, 0.9, 0), a)]
    assert [g.label for g in got] == ["speaker_1", "speaker_2"] * 2 + ["speaker_1"]
    assert [g.new for g in got] == [True, True, False, False, False]
    assert {g.kind for g in got} == {NEUTRAL}
    assert c.count == 2


def test_a_short_unlike_turn_joins_the_nearest_speaker():
    c = SpeakerClusters(DiarizeConfig(min_new_speaker_ms=1500))
    c.assign(unit(1, 0, 0), 3000)
    c.assign(unit(0, 1, 0), 3000)
    short = c.assign(unit(0.1, 0.3, 1), 1000)  # unlike both, but only 1 s
    assert (short.label, short.new) == ("speaker_2", False)
    assert c.assign(unit(0.1, 0.3, 1), 1500).label == "speaker_3"


def test_a_short_first_turn_holds_the_first_speaker_until_a_voice_alike_it_confirms_it():
    c = SpeakerClusters(DiarizeConfig(roles=("agent", "customer")))
    hello = c.assign(unit(1, 0.9, 0), 600)  # a 0.6 s "Hello": a noisy embedding
    assert (hello.label, hello.new, c.provisional(0)) == ("agent", True, True)
    # a long voice unlike it (cosine 0.57 < provisional_similarity) is a new speaker
    other = c.assign(unit(0, 1, 0.6), 3000)
    assert (other.label, other.new, c.provisional(1)) == ("customer", True, False)
    # a long voice unlike both, but 0.74 alike the provisional one, is its speaker
    agent = c.assign(unit(1, 0, 0), 3000)
    assert (agent.label, agent.new, c.count, c.provisional(0)) == ("agent", False, 2, False)
    # confirmed: the next voice unlike all founds a speaker of its own
    assert c.assign(unit(0.6, 0, 1), 3000).label == "speaker_3"


def test_at_most_max_speakers():
    c = SpeakerClusters(DiarizeConfig(max_speakers=2))
    labels = [c.assign(v, 3000).label for v in (unit(1, 0, 0), unit(0, 1, 0), unit(0, 0.2, 1))]
    assert labels == ["speaker_1", "speaker_2", "speaker_2"]


def test_four_voices_are_found_from_the_audio():
    c = SpeakerClusters()
    voices = np.eye(5, dtype=np.float32)[:4]
    order = [0, 1, 0, 2, 1, 3, 2, 3, 0]
    labels = [c.assign(voices[i], 2000).label for i in order]
    assert labels == [f"speaker_{i + 1}" for i in order]


def test_roles_label_the_first_speakers_then_neutral_labels():
    c = SpeakerClusters(DiarizeConfig(roles=("agent", "customer")))
    got = [c.assign(v, 2000) for v in (unit(1, 0, 0), unit(0, 1, 0), unit(0, 0, 1))]
    assert [(g.label, g.kind) for g in got] == [
        ("agent", ROLE),
        ("customer", ROLE),
        ("speaker_3", NEUTRAL),
    ]


def test_centroids_follow_a_voice_without_relabelling_the_past():
    c = SpeakerClusters(DiarizeConfig(new_speaker_similarity=0.9))
    assert c.assign(unit(1, 0, 0), 2000).label == "speaker_1"
    # the voice drifts a little each turn; every turn stays within 0.9 of the centroid
    for k in range(1, 6):
        got = c.assign(unit(1, 0.1 * k, 0), 2000)
        assert (got.label, got.new) == ("speaker_1", False)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"hop_ms": 0},
        {"hop_ms": 2000},
        {"window_ms": 400, "hop_ms": 200},
        {"max_speakers": 0},
        {"confirm_windows": 0},
        {"min_voiced": 1.5},
        {"snap_ms": -1},
        {"change_similarity": 1.5},
        {"roles": ("agent", "agent")},
        {"roles": ("",)},
    ],
)
def test_bad_config_is_refused(kwargs):
    with pytest.raises(ValueError):
        DiarizeConfig(**kwargs)
