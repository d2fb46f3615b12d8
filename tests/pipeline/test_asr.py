"""The real bundled model (tiny.en) behind the engine adapter."""

import numpy as np
import soxr

from listenin.wer import word_error_rate
from tests.conftest import utterance_pcm


def to16k(pcm):
    return soxr.resample(pcm.astype(np.float32) / 32768, 8000, 16000)


def test_utterance_is_transcribed_with_word_timings(engine, call1):
    audio = to16k(utterance_pcm(call1, 8))
    result = engine.transcribe(audio, word_timestamps=True)
    assert result.rejected is None
    assert word_error_rate(call1["utterances"][8]["text"], result.text) < 0.35
    assert result.words and all(0 <= w.start <= w.end <= audio.size / 16000 for w in result.words)
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)


def test_silence_and_noise_give_no_text(engine):
    silence = np.zeros(16000 * 3, np.float32)
    assert engine.transcribe(silence, word_timestamps=True).text == ""
    noise = np.random.default_rng(1).normal(0, 0.05, 16000 * 3).astype(np.float32)
    r = engine.transcribe(noise, word_timestamps=False)
    assert r.text == "" and r.rejected is not None


def test_short_encode_matches_full_window(engine, call1):
    from pipeline.asr import WhisperConfig, WhisperEngine

    audio = to16k(utterance_pcm(call1, 6))
    full = WhisperEngine(_path(), WhisperConfig(full_window=True, num_workers=1))
    a = engine.transcribe(audio, word_timestamps=False).text
    b = full.transcribe(audio, word_timestamps=False).text
    assert word_error_rate(b, a) < 0.25


def _path():
    from models import resolve

    return resolve("tiny.en")
