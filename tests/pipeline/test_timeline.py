import numpy as np
import pytest

from pipeline.timeline import PartyTimeline, TimelineConfig
from records.frames import AudioFrame, BadFrame, Gap


def frame(start, n=160, rate=8000, value=1):
    return AudioFrame("c", "agent", rate, start, np.full(n, value, np.int16))


def test_contiguous_frames_pass_through():
    tl = PartyTimeline(8000)
    out = tl.push(frame(0)) + tl.push(frame(160))
    assert [(f.start, f.samples) for f in out] == [(0, 160), (160, 160)]
    assert tl.position == 320


def test_late_join_is_a_gap():
    tl = PartyTimeline(8000)
    out = tl.push(frame(8000))
    assert isinstance(out[0], Gap) and (out[0].start, out[0].samples) == (0, 8000)
    assert out[1].start == 8000


def test_short_hole_is_filled_with_silence():
    tl = PartyTimeline(8000, TimelineConfig(fill_gap_ms=100))
    tl.push(frame(0))
    out = tl.push(frame(480))  # 40 ms lost
    assert isinstance(out[0], AudioFrame) and out[0].start == 160 and out[0].samples == 320
    assert not out[0].pcm.any()
    assert tl.stats.filled_samples == 320


def test_long_hole_is_a_gap():
    tl = PartyTimeline(8000, TimelineConfig(fill_gap_ms=100))
    tl.push(frame(0))
    out = tl.push(frame(160 + 8000))
    assert isinstance(out[0], Gap) and out[0].samples == 8000
    assert tl.stats.gap_samples == 8000


def test_overlap_is_trimmed_and_late_frame_dropped():
    tl = PartyTimeline(8000)
    tl.push(frame(0))
    out = tl.push(frame(80, value=2))
    assert [(f.start, f.samples) for f in out] == [(160, 80)]
    assert tl.push(frame(0)) == []
    assert tl.stats.late_samples_dropped == 80 + 160


def test_rate_change_is_rejected_and_counted():
    tl = PartyTimeline(8000)
    with pytest.raises(BadFrame):
        tl.push(frame(0, rate=16000))
    assert tl.stats.rejected_frames == 1
