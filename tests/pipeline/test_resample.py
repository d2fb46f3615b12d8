import numpy as np

from pipeline.resample import Resampler
from records.frames import AudioFrame, Gap


def sine(n, rate, hz=440.0, start=0):
    t = (np.arange(n) + start) / rate
    return (np.sin(2 * np.pi * hz * t) * 16000).astype(np.int16)


def test_output_is_aligned_and_complete():
    rs = Resampler(8000, 16000)
    out = []
    for i in range(50):
        out += rs.push(AudioFrame("c", "a", 8000, i * 160, sine(160, 8000, start=i * 160)))
    out += rs.flush()
    assert out[0].start == 0 and out[0].sample_rate == 16000
    for a, b in zip(out, out[1:], strict=False):
        assert a.end == b.start
    audio = np.concatenate([f.pcm for f in out])
    assert audio.size == 16000
    expected = sine(16000, 16000).astype(np.float32) / 32768
    mid = slice(1000, 15000)
    assert np.abs(audio[mid] - expected[mid]).max() < 0.01  # same phase: no delay


def test_gap_restarts_at_converted_position():
    rs = Resampler(8000, 16000)
    rs.push(AudioFrame("c", "a", 8000, 0, sine(160, 8000)))
    tail = rs.push(Gap("c", "a", 8000, 160, 8000))
    assert tail and tail[-1].end <= 320
    out = rs.push(AudioFrame("c", "a", 8000, 8160, sine(160, 8000)))
    out += rs.flush()
    assert out[0].start == 16320


def test_same_rate_passes_through_as_float():
    rs = Resampler(16000, 16000)
    out = rs.push(AudioFrame("c", "a", 16000, 320, np.full(320, 16384, np.int16)))
    assert out[0].start == 320 and out[0].pcm.dtype == np.float32 and out[0].pcm[0] == 0.5
