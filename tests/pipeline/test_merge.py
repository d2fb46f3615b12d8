import numpy as np

from pipeline.merge import ChannelMerger, TranscriptMerger
from records.events import TranscriptFinal
from records.frames import AudioFrame, Gap


def final(party, seg, start):
    return TranscriptFinal("c", party, seg, start, start + 1, f"{party} {start}", start + 1.5)


def test_transcript_is_chronological_across_parties():
    m = TranscriptMerger()
    m.push(final("customer", "customer-1", 5.0))
    m.push(final("agent", "agent-1", 1.0))
    m.push(final("agent", "agent-2", 9.0))
    assert [f.segment_id for f in m.transcript()] == ["agent-1", "customer-1", "agent-2"]
    assert [f.segment_id for f in m.release(6.0)] == ["agent-1", "customer-1"]
    m.push(final("customer", "customer-0", 0.5))  # straggler
    assert [f.segment_id for f in m.release(6.0)] == ["customer-0"]
    assert [f.segment_id for f in m.release(100)] == ["agent-2"]


def fr(party, start, n, value):
    return AudioFrame("c", party, 8000, start, np.full(n, value, np.int16))


def collect(blocks):
    return np.concatenate([b.pcm for b in blocks]) if blocks else np.zeros((0, 2), np.int16)


def test_channels_align_on_the_call_clock():
    m = ChannelMerger(8000, ("agent", "customer"))
    blocks = m.push(fr("agent", 0, 160, 1))
    assert blocks == []  # customer not heard yet
    blocks += m.push(fr("customer", 80, 160, 2))  # late join by 80 samples
    blocks += m.push(fr("agent", 160, 160, 1))
    blocks += m.flush()
    pcm = collect(blocks)
    assert pcm.shape == (320, 2)
    assert (pcm[:, 0] == 1).all()
    assert (pcm[:80, 1] == 0).all() and (pcm[80:240, 1] == 2).all() and (pcm[240:, 1] == 0).all()
    assert blocks[0].parties == ("agent", "customer") and blocks[0].start == 0


def test_gap_is_silence_and_ended_party_does_not_block():
    m = ChannelMerger(8000, ("agent", "customer"))
    m.push(fr("agent", 0, 100, 1))
    m.push(Gap("c", "agent", 8000, 100, 100))
    blocks = m.push(fr("customer", 0, 50, 2))
    blocks += m.end_party("customer")
    pcm = collect(blocks)
    assert pcm.shape == (200, 2)
    assert (pcm[100:, 0] == 0).all() and (pcm[50:, 1] == 0).all()


def test_lagging_party_is_padded_past_max_skew():
    m = ChannelMerger(8000, ("agent", "customer"), max_skew_ms=100)  # 800 samples
    m.push(fr("customer", 0, 10, 2))
    blocks = m.push(fr("agent", 0, 2000, 1))
    assert collect(blocks).shape[0] == 1200
    assert m.padded_samples == 1190
    blocks = m.push(fr("customer", 10, 100, 2))  # arrives too late: dropped
    assert m.flush()[0].pcm[:, 1].sum() == 0


def test_unknown_party_and_wrong_rate_are_ignored():
    m = ChannelMerger(8000, ("agent",))
    assert m.push(fr("intruder", 0, 10, 1)) == []
    assert m.push(AudioFrame("c", "agent", 16000, 0, np.zeros(10, np.int16))) == []
    assert m.ignored_frames == 2
