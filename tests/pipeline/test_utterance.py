import numpy as np

from pipeline.jobs import JobKind
from pipeline.utterance import AudioRing, StreamingConfig, UtterancePolicy
from records.frames import AudioFrame


def f(start, n, value=None):
    pcm = (
        np.arange(start, start + n, dtype=np.float32)
        if value is None
        else np.full(n, value, np.float32)
    )
    return AudioFrame("c", "agent", 16000, start, pcm)


def test_ring_reads_across_the_wrap():
    ring = AudioRing(100)
    for s in range(0, 250, 30):
        ring.write(f(s, 30))
    assert ring.end == 270 and ring.begin == 170
    assert ring.read(180, 260).tolist() == list(range(180, 260))
    assert ring.read(0, 200).tolist() == list(range(170, 200))  # clipped to what is held
    assert ring.dropped == 170


def test_ring_zeroes_a_hole():
    ring = AudioRing(100)
    ring.write(f(0, 50))
    ring.write(f(120, 10))
    assert not ring.read(50, 120).any() and ring.read(120, 130).tolist() == list(range(120, 130))


def test_partials_at_cadence_then_final_covers_segment():
    policy = UtterancePolicy(
        "c", "agent", 16000, StreamingConfig(partial_interval_ms=500, min_partial_ms=400)
    )
    jobs = []
    for s in range(0, 16000 * 3, 320):
        if s == 1600:
            policy.speech_start(1600)
        jobs += policy.audio(f(s, 320, 0.1), now_s=s / 16000)
    jobs += policy.speech_end(16000 * 3, now_s=3.0)
    partials = [j for j in jobs if j.kind is JobKind.PARTIAL]
    final = jobs[-1]
    assert final.kind is JobKind.FINAL and final.segment_id == "agent-1"
    assert final.start == 1600 and final.audio.size == 16000 * 3 - 1600
    gaps = np.diff([p.start + p.audio.size for p in partials])
    assert len(partials) >= 4 and (gaps >= 8000).all()
    assert [j.revision for j in jobs] == list(range(1, len(jobs) + 1))


def test_no_partials_when_disabled_and_no_final_without_segment():
    policy = UtterancePolicy("c", "agent", 16000, StreamingConfig(partials=False))
    policy.speech_start(0)
    assert all(policy.audio(f(s, 320), 0.0) == [] for s in range(0, 32000, 320))
    assert len(policy.speech_end(32000, 2.0)) == 1
    assert policy.speech_end(32000, 2.0) == []


def test_split_goes_on_with_the_rest_as_a_new_segment():
    from pipeline.commit import Seam

    policy = UtterancePolicy("c", "agent", 16000)
    policy.speech_start(0)
    for s in range(0, 16000 * 3, 320):
        policy.audio(f(s, 320, 0.1), 0.0)
    seam = Seam(2.0, ("hello", "there"), 0.0)
    assert not policy.split("agent-9", 32000, 16000, seam)  # not the open segment
    assert policy.split("agent-1", 32000, 16000, seam) and policy.segment_id == "agent-2"
    (final,) = policy.speech_end(16000 * 3, 3.0)
    assert final.segment_id == "agent-2" and final.seam == seam and final.revision == 1
    assert final.start == 16000 and final.audio.size == 16000 * 2  # from cut - overlap
    assert not policy.split("agent-2", 40000, 0, seam)  # the segment has ended


def test_a_rests_final_decodes_from_the_committed_words_onset_and_partials_do_not():
    """The committed words' audio is context for the rest's final (then dropped from it):
    the rest alone read "is to be ill disposed" as "is to be able to suppose"."""
    from pipeline.commit import Seam

    policy = UtterancePolicy("c", "agent", 16000)
    policy.final_from_onset = True
    policy.speech_start(0)
    for s in range(0, 16000 * 3, 320):
        policy.audio(f(s, 320), 0.0)
    policy.split("agent-1", 32000, 8000, Seam(2.0, ("hello", "there"), 0.25))
    partials = [j for s in range(16000 * 3, 16000 * 4, 320) for j in policy.audio(f(s, 320), 4.0)]
    assert partials and all(p.start == 24000 for p in partials)  # from cut - overlap
    (final,) = policy.speech_end(16000 * 4, 4.0)
    assert final.start == 4000 and final.audio[0] == 4000  # from the onset, 0.25 s
    assert final.audio.size == 16000 * 4 - 4000


def test_a_pause_asks_for_a_partial_at_once_unless_one_is_fresh():
    policy = UtterancePolicy(
        "c", "agent", 16000, StreamingConfig(partial_interval_ms=500, min_partial_ms=400)
    )
    assert policy.paused(0.0) == []  # no segment
    policy.speech_start(0)
    jobs = [j for s in range(0, 16000 * 7 // 10, 320) for j in policy.audio(f(s, 320), s / 16000)]
    assert len(jobs) == 1 and jobs[0].end_s == 0.5  # the 500 ms cadence
    (now,) = policy.paused(0.7)  # 200 ms later: the pause's partial, up to the newest audio
    assert now.kind is JobKind.PARTIAL and now.end_s == 0.7 and now.start == 0
    assert policy.paused(0.7) == []  # the partial just asked covers it
