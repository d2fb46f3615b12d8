"""The numpy voice encoder against Resemblyzer's own outputs, and on real voices."""

import json

import numpy as np
import pytest
import soundfile as sf
import soxr

from models import ModelError
from models.speaker import (
    EMBED_DIM,
    load_encoder,
    mel_filters,
    mel_spectrogram,
    normalize_volume,
    partial_starts,
)
from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def encoder():
    return load_encoder()


def sweep() -> np.ndarray:
    """A deterministic 3 s test signal (a chirp plus a modulated tone) at 16 kHz."""
    t = np.arange(16000 * 3) / 16000
    x = 0.1 * np.sin(2 * np.pi * (150 + 200 * t) * t)
    x += 0.03 * np.sin(2 * np.pi * 1234 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    return x.astype(np.float32)


# Computed from sweep() with resemblyzer 0.1.4 (torch 2.13 CPU, librosa 0.11):
# wav_to_mel_spectrogram(w)[100, :6], the 6 largest dimensions of
# VoiceEncoder()(mel[None, :160]) and of VoiceEncoder().embed_utterance(w).
REF_MEL_ROW = [
    2.0343808e-08,
    1.0093545e-07,
    4.5565361e-07,
    2.6259697e-06,
    2.7135988e-05,
    2.918196e-3,
]
REF_PARTIAL = {224: 0.28025913, 18: 0.23873663, 93: 0.23150979, 180: 0.20768291, 156: 0.19523841}
REF_UTTERANCE = {20: 0.29252517, 124: 0.20617804, 125: 0.19646667, 24: 0.18369344, 66: 0.17426091}


def test_mel_front_end_matches_resemblyzer():
    w = sweep()
    mel = mel_spectrogram(w)
    assert mel.shape == (1 + w.size // 160, 40)  # centred 10 ms frames
    np.testing.assert_allclose(mel[100, :6], REF_MEL_ROW, rtol=1e-4)


def test_mel_filters_are_slaney_triangles():
    fb = mel_filters()
    assert fb.shape == (40, 201)
    peaks = fb.argmax(axis=1)
    assert np.all(np.diff(peaks) >= 0) and fb.min() == 0
    # Slaney area norm: each filter's height is 2 / its width in Hz, so the area is ~1 / 1 Hz
    hz_per_bin = 8000 / 200
    np.testing.assert_allclose(fb[10:].sum(axis=1) * hz_per_bin, 1.0, rtol=0.1)


def test_network_matches_resemblyzer(encoder):
    w = sweep()
    partial = encoder.forward(mel_spectrogram(w)[None, :160])[0]
    utterance = encoder.embed_utterance(w)
    for emb, ref in ((partial, REF_PARTIAL), (utterance, REF_UTTERANCE)):
        assert emb.shape == (EMBED_DIM,)
        assert np.linalg.norm(emb) == pytest.approx(1.0, abs=1e-5) and emb.min() >= 0
        top = [int(i) for i in np.argsort(-emb)[:5]]
        assert top == list(ref)
        np.testing.assert_allclose(emb[top], list(ref.values()), atol=2e-5)


def test_partials_follow_resemblyzer_slicing():
    # values from resemblyzer's VoiceEncoder.compute_partial_slices(n, 1.3, coverage)
    assert partial_starts(16000) == [0]  # shorter than one partial: one, padded
    assert partial_starts(48000) == [0, 77, 154]
    assert partial_starts(40000) == [0, 77]  # the third would cover < 75 % of its frames
    assert partial_starts(40000, min_coverage=0.5) == [0, 77, 154]


def test_volume_is_only_raised():
    quiet = np.full(1600, 0.001, dtype=np.float32)
    loud = np.full(1600, 0.5, dtype=np.float32)
    assert 20 * np.log10(np.sqrt(np.mean(normalize_volume(quiet) ** 2))) == pytest.approx(-30)
    assert normalize_volume(loud) is loud
    silent = np.zeros(10, dtype=np.float32)
    assert normalize_volume(silent) is silent


def _voice(party: str, start_s: float, end_s: float) -> np.ndarray:
    ref = json.loads((FIXTURES / "call2.json").read_text())
    pcm, rate = sf.read(FIXTURES / ref["parties"][party], dtype="float32")
    return soxr.resample(pcm[int(start_s * rate) : int(end_s * rate)], rate, 16000)


def test_same_real_voice_is_closer_than_two_voices(encoder):
    agent_a = encoder.embed_utterance(normalize_volume(_voice("agent", 1.0, 5.0)))
    agent_b = encoder.embed_utterance(normalize_volume(_voice("agent", 40.0, 44.0)))
    customer_a = encoder.embed_utterance(normalize_volume(_voice("customer", 23.0, 27.0)))
    customer_b = encoder.embed_utterance(normalize_volume(_voice("customer", 65.0, 69.0)))
    same = min(agent_a @ agent_b, customer_a @ customer_b)
    across = max(agent_a @ customer_a, agent_a @ customer_b, agent_b @ customer_a)
    assert same > across + 0.1, (same, across)


def test_windows_are_embedded_in_one_batch(encoder):
    w = _voice("customer", 23.0, 26.2)
    both = encoder.embed_windows(np.stack([w[:25600], w[-25600:]]))
    one = encoder.embed_windows(w[:25600])
    assert both.shape == (2, EMBED_DIM)
    np.testing.assert_allclose(both[0], one[0], atol=1e-5)


def test_missing_weights_say_what_to_install(tmp_path):
    with pytest.raises(ModelError):
        load_encoder(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="not a readable checkpoint"):
        load_encoder(bad)
