import numpy as np
import pytest

from records.frames import AudioFrame, BadFrame, Gap, pcm_to_float, pcm_to_int16, samples_to_rate


def test_frame_positions():
    f = AudioFrame("c", "agent", 8000, 160, np.zeros(160, np.int16))
    assert (f.samples, f.end, f.start_s, f.end_s) == (160, 320, 0.02, 0.04)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sample_rate": 0},
        {"start": -1},
        {"pcm": np.zeros((2, 80), np.int16)},
        {"pcm": np.zeros(80, np.float64)},
    ],
)
def test_bad_frames_are_rejected(kwargs):
    args = {
        "call_id": "c",
        "party": "a",
        "sample_rate": 8000,
        "start": 0,
        "pcm": np.zeros(80, np.int16),
    }
    args.update(kwargs)
    with pytest.raises(BadFrame):
        AudioFrame(**args)


def test_conversions():
    assert samples_to_rate(8000, 8000, 16000) == 16000
    pcm = np.array([-32768, 0, 16384], np.int16)
    f = pcm_to_float(pcm)
    assert f.dtype == np.float32 and f.tolist() == [-1.0, 0.0, 0.5]
    assert pcm_to_int16(np.array([2.0, -2.0], np.float32)).tolist() == [32767, -32767]
    assert Gap("c", "a", 8000, 10, 5).end == 15
