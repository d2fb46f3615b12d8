import json

import numpy as np
import pytest

from listenin.replay import load_party, mix_parties
from pipeline.vad import SpeechEnd, SpeechStart, VadConfig, VadSegmenter
from tests.conftest import FIXTURES, utterance_pcm

CONV = json.loads((FIXTURES / "conv.json").read_text())


def run(seg, pcm, chunk=160, start=0):
    events = []
    for a in range(0, pcm.size, chunk):
        events += seg.push(pcm[a : a + chunk], start + a)
    return events


def test_silence_gives_no_segments():
    seg = VadSegmenter(8000)
    assert run(seg, np.zeros(8000 * 5, np.int16)) == []
    assert seg.flush() == []


def test_speech_segment_is_found_with_preroll(call1):
    u = call1["utterances"][0]
    rate = 8000
    pcm = call1["audio"]["agent"][: int((u["end"] + 1.0) * rate)]
    seg = VadSegmenter(rate, VadConfig(preroll_ms=200, hangover_ms=300))
    events = run(seg, pcm) + seg.flush()
    starts = [e for e in events if isinstance(e, SpeechStart)]
    ends = [e for e in events if isinstance(e, SpeechEnd)]
    assert starts and ends
    assert abs(starts[0].voiced_at / rate - u["start"]) < 0.15
    assert starts[0].start == max(0, starts[0].voiced_at - 1600)
    assert abs(ends[-1].end / rate - u["end"]) < 0.3


def test_max_segment_cuts_and_restarts(call1):
    pcm = np.tile(utterance_pcm(call1, 0, pad_s=0), 3)  # continuous speech
    seg = VadSegmenter(8000, VadConfig(max_segment_ms=2000, hangover_ms=2000, tail_ms=100))
    events = run(seg, pcm)
    cuts = [e for e in events if isinstance(e, SpeechEnd) and e.cut]
    assert cuts and all(e.end - e.start <= 16000 for e in cuts)


def test_gap_closes_open_segment(call1):
    pcm = utterance_pcm(call1, 0, pad_s=0)[:8000]
    seg = VadSegmenter(8000)
    run(seg, pcm)
    assert seg.active
    events = seg.gap(8000)
    assert isinstance(events[0], SpeechEnd) and not seg.active


def test_odd_chunk_sizes_keep_positions(call1):
    pcm = utterance_pcm(call1, 1)
    a = run(VadSegmenter(8000), pcm, chunk=160)
    b = run(VadSegmenter(8000), pcm, chunk=97)
    assert a == b


@pytest.mark.parametrize(
    "bad", [{"mode": 4}, {"frame_ms": 25}, {"start_frames": 9}, {"tail_ms": 900}]
)
def test_config_is_validated(bad):
    with pytest.raises(ValueError):
        VadConfig(**bad)


def test_rate_and_dtype_are_validated():
    with pytest.raises(ValueError):
        VadSegmenter(11025)
    with pytest.raises(ValueError):
        VadSegmenter(8000).push(np.zeros(160, np.float32), 0)


def test_jump_without_gap_is_treated_as_a_gap(call1):
    pcm = utterance_pcm(call1, 0, pad_s=0)[:8000]
    seg = VadSegmenter(8000)
    run(seg, pcm)
    assert seg.active
    events = seg.push(np.zeros(160, np.int16), 80000)  # 9 s later, no Gap sent
    assert isinstance(events[0], SpeechEnd) and events[0].end <= 8000 and not seg.active


def test_long_turn_is_split_at_pauses_not_through_words():
    import soundfile as sf

    from tests.conftest import FIXTURES

    # call2's agent: one 21.5 s real-speech turn from 0.5 s
    pcm = sf.read(FIXTURES / "call2_agent.wav", dtype="int16")[0][: 8000 * 23]
    config = VadConfig()
    events = run(VadSegmenter(8000, config), pcm)
    ends = [e for e in events if isinstance(e, SpeechEnd)]
    starts = [e for e in events if isinstance(e, SpeechStart)]
    assert len(ends) >= 2 and not any(e.cut for e in ends)  # no hard cut through a word
    assert all(e.end - e.start <= 8000 * config.max_segment_ms // 1000 for e in ends)
    # a soft split ends at a pause and the next segment never starts before it
    for prev, nxt in zip(ends, starts[1:], strict=False):
        assert nxt.start >= prev.end


def test_soft_limit_above_the_hard_one_never_splits_softly():
    assert VadConfig(max_segment_ms=2000, soft_max_ms=8000).soft_max_ms == 8000
    with pytest.raises(ValueError):
        VadConfig(soft_max_ms=500)
    with pytest.raises(ValueError):
        VadConfig(soft_pause_ms=10)


def test_a_pause_inside_a_segment_is_listed_until_the_segment_ends(call1):
    rate = 8000
    words = utterance_pcm(call1, 0, pad_s=0.0)
    pause = np.zeros(rate * 3 // 10, np.int16)  # 300 ms: below the 500 ms hangover
    pcm = np.concatenate((np.zeros(rate // 2, np.int16), words, pause, words))
    seg = VadSegmenter(rate, VadConfig(soft_max_ms=15000))
    assert [type(e) for e in run(seg, pcm)] == [SpeechStart]  # one segment, still open
    at = (rate // 2 + words.size) / rate
    found = [(a / rate, b / rate) for a, b in seg.pauses()]
    assert any(a <= at + 0.05 and b >= at + 0.25 for a, b in found)  # the 300 ms silence
    assert all(b - a >= 0.1 for a, b in found)  # pause_ms and longer only
    run(seg, np.zeros(rate, np.int16), start=pcm.size)
    assert seg.pauses() == []  # the segment ended


def test_an_ongoing_pause_is_listed_once_it_is_pause_ms_long(call1):
    rate = 8000
    words = utterance_pcm(call1, 0, pad_s=0.0)
    seg = VadSegmenter(rate, VadConfig(pause_ms=200, hangover_ms=500))
    run(seg, np.concatenate((np.zeros(rate // 2, np.int16), words)))
    before = seg.pauses()
    run(seg, np.zeros(rate * 3 // 10, np.int16), start=rate // 2 + words.size)
    (a, b), *_ = seg.pauses()[len(before) :]
    assert b - a >= rate // 5 and b <= rate // 2 + words.size + rate * 3 // 10


def test_a_restart_counts_the_limits_from_the_commit(call1):
    """A streaming commit finalised the segment up to a point: its soft limit counts from
    there, so the rest is not split softly (through a word) for being old."""
    rate = 8000
    words = utterance_pcm(call1, 0, pad_s=0.0)
    pause = np.zeros(rate * 3 // 10, np.int16)  # a 300 ms pause: above soft_pause_ms
    pcm = np.concatenate((np.zeros(rate // 2, np.int16), words, pause, words, pause, words))
    config = VadConfig(soft_max_ms=words.size * 1000 // rate + 200)
    plain = [e for e in run(VadSegmenter(rate, config), pcm) if isinstance(e, SpeechEnd)]
    seg = VadSegmenter(rate, config)
    first = rate // 2 + words.size
    events = run(seg, pcm[:first])
    seg.restart(first)  # committed up to the end of the first words
    events += run(seg, pcm[first:], start=first)
    assert plain and plain[0].end < first + pause.size  # split in the first pause
    assert not [e for e in events if isinstance(e, SpeechEnd) and e.end < first + pause.size]


@pytest.mark.parametrize(("trail_db", "ends_after"), [(10.0, True), (0.0, False)])
def test_a_soft_last_word_the_vad_calls_unvoiced_stays_in_the_segment(trail_db, ends_after):
    # conv fixture, mixed: "... to do for them" ends at 50.68 s; over the other line's
    # noise webrtcvad calls the end of "them" (-42..-48 dBFS) unvoiced
    parties = [load_party(p, FIXTURES / f) for p, f in CONV["parties"].items()]
    rate = parties[0].sample_rate
    pcm = mix_parties(parties).pcm[int(47.0 * rate) : int(51.0 * rate)]
    seg = VadSegmenter(rate, VadConfig(trail_db=trail_db))
    ends = [e for e in run(seg, pcm, start=int(47.0 * rate)) if isinstance(e, SpeechEnd)]
    assert len(ends) == 1
    assert (ends[0].end / rate >= 50.68) is ends_after
    assert ends[0].end / rate <= 50.68 + 0.2  # the word and the tail after it, no more
