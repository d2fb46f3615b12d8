"""The in-band DTMF detector on generated key presses, real speech and hold music."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from pipeline.dtmf import HIGH_HZ, KEYPAD, LOW_HZ, DtmfConfig, DtmfDetector

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
MOH = Path("/usr/share/asterisk/moh")
DIGITS = "".join(KEYPAD)


def key(digit: str, ms: float, rate: int = 8000, dbfs: float = -10.0, twist_db: float = 0.0,
        detune: float = 1.0) -> np.ndarray:  # fmt: skip
    """A key press: the digit's two tones at ``dbfs`` each (high ``twist_db`` louder)."""
    row = next(r for r in range(4) if digit in KEYPAD[r])
    lo, hi = LOW_HZ[row], HIGH_HZ[KEYPAD[row].index(digit)]
    n = np.arange(int(rate * ms / 1000))
    amp = 10 ** (dbfs / 20)
    x = amp * np.sin(2 * np.pi * lo * detune * n / rate + 0.3)
    x += amp * 10 ** (twist_db / 20) * np.sin(2 * np.pi * hi * detune * n / rate)
    return x.astype(np.float32)


def silence(ms: float, rate: int = 8000) -> np.ndarray:
    return np.zeros(int(rate * ms / 1000), dtype=np.float32)


def noise(x: np.ndarray, dbfs: float, seed: int = 1) -> np.ndarray:
    """``x`` plus white noise at ``dbfs`` RMS (speech-level background)."""
    rng = np.random.default_rng(seed)
    return (x + rng.normal(0, 10 ** (dbfs / 20), x.size)).astype(np.float32)


def detect(x: np.ndarray, rate: int = 8000, chunk: int = 160, config=None):
    det = DtmfDetector(rate, config)
    out = []
    for i in range(0, x.size, chunk):  # 20 ms frames, as the device sends them
        out.extend(det.push(x[i : i + chunk], i))
    return out + det.flush()


@pytest.mark.parametrize("rate", [8000, 16000])
def test_all_sixteen_digits_in_speech_level_noise(rate):
    parts = [silence(100, rate)]
    for d in DIGITS:
        parts += [key(d, 60, rate, dbfs=-12), silence(60, rate)]
    x = noise(np.concatenate(parts), dbfs=-30)  # ~15 dB below the tones
    digits = detect(x, rate, chunk=rate // 50)
    assert "".join(d.digit for d in digits) == DIGITS
    for i, d in enumerate(digits):  # start/end on the call clock within 15 ms (10 ms hops)
        start = 0.1 + i * 0.12
        assert abs(d.start_s - start) <= 0.015 and abs(d.end_s - (start + 0.06)) <= 0.015, d


@pytest.mark.parametrize("offset", range(0, 80, 9))
def test_a_40_ms_press_counts_and_a_20_ms_one_does_not(offset):
    for ms, want in ((40, "7"), (20, ""), (25, "")):
        x = np.concatenate([silence(offset / 8), key("7", ms), silence(100)])
        assert "".join(d.digit for d in detect(x)) == want, (ms, offset)


def test_the_same_digit_twice_with_a_40_ms_pause_is_two_presses():
    x = np.concatenate([key("3", 50), silence(40), key("3", 50), silence(100)])
    assert [d.digit for d in detect(x)] == ["3", "3"]


def test_a_short_dropout_does_not_split_a_press():
    x = np.concatenate([key("9", 80), silence(10), key("9", 80), silence(100)])
    assert [d.digit for d in detect(x)] == ["9"]


def test_twist_and_frequency_limits():
    assert [d.digit for d in detect(key("5", 60, twist_db=4.0))] == ["5"]  # high louder
    assert [d.digit for d in detect(key("5", 60, twist_db=-4.0))] == ["5"]  # low louder
    assert detect(key("5", 60, twist_db=12.0)) == []  # far too much twist
    assert [d.digit for d in detect(key("5", 60, detune=1.015))] == ["5"]  # Q.24: +-1.5 %
    assert detect(key("5", 60, detune=1.035)) == []  # Q.24: reject 3.5 % off
    assert detect(key("5", 60, dbfs=-45)) == []  # below the level floor


def test_a_single_tone_is_not_a_digit():
    n = np.arange(8000)
    assert detect((0.3 * np.sin(2 * np.pi * 941 * n / 8000)).astype(np.float32)) == []


def test_tone_spans_cover_the_press():
    x = np.concatenate([silence(100), key("#", 100), silence(200)])
    det = DtmfDetector(8000)
    det.push(x, 0)
    det.flush()
    ((a, b),) = det.tone_spans(0, x.size)
    assert a <= 800 and b >= 1600  # the whole tone (100..200 ms), guard included
    assert a >= 800 - 400 and b <= 1600 + 400


def test_real_speech_gives_no_digits():
    for name in ("call2_agent.wav", "call2_customer.wav", "call1_agent.wav"):
        pcm, rate = sf.read(FIXTURES / name, dtype="int16")
        det = DtmfDetector(rate)
        assert det.push(pcm, 0) + det.flush() == [], name
        assert det.windows > 1000


@pytest.mark.skipif(not MOH.is_dir(), reason="asterisk-moh-opsound-wav not installed")
def test_hold_music_gives_no_digits():
    files = sorted(MOH.glob("*.wav"))
    assert files
    for path in files:
        audio, rate = sf.read(path, dtype="float32")
        audio = audio if audio.ndim == 1 else audio.mean(axis=1)
        pcm = soxr.resample(audio[: rate * 60], rate, 8000).astype(np.float32)  # a minute each
        det = DtmfDetector(8000)
        assert det.push(pcm, 0) + det.flush() == [], path.name


def test_config_is_checked():
    with pytest.raises(ValueError):
        DtmfConfig(min_tone_ms=10)
    with pytest.raises(ValueError):
        DtmfConfig(min_tone_ratio=0.0)
