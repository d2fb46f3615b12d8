"""The real bundled model (tiny.en) behind the engine adapter, and the device choice."""

import logging

import ctranslate2
import numpy as np
import pytest
import soxr

from listenin.wer import word_error_rate
from tests.conftest import utterance_pcm


def to16k(pcm):
    return soxr.resample(pcm.astype(np.float32) / 32768, 8000, 16000)


def test_utterance_is_transcribed_with_word_timings(engine, call1):
    audio = to16k(utterance_pcm(call1, 8))
    result = engine.transcribe(audio, word_timestamps=True)
    assert result.rejected is None
    assert (engine.device, engine.compute_type) == ("cpu", "int8")  # the default, unchanged
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


NO_CUDA = pytest.mark.skipif(
    ctranslate2.get_cuda_device_count() > 0, reason="this machine has a CUDA device"
)


def test_device_choice_is_pure():
    from pipeline.asr import pick_device

    assert pick_device("cpu", 0) == pick_device("cpu", 2) == "cpu"
    assert pick_device("auto", 0) == "cpu"
    assert pick_device("auto", 1) == "cuda"
    assert pick_device("cuda", 1) == "cuda"
    with pytest.raises(ValueError, match="no CUDA device"):
        pick_device("cuda", 0)
    with pytest.raises(ValueError, match="cpu, cuda, auto"):
        pick_device("tpu", 0)


def test_compute_type_defaults_per_device_and_is_checked():
    from pipeline.asr import WhisperConfig, pick_compute_type

    assert pick_compute_type("cpu", None, {"int8", "float32"}) == "int8"
    assert pick_compute_type("cuda", None, {"float16", "int8_float16"}) == "float16"
    assert pick_compute_type("cpu", "float32", {"int8", "float32"}) == "float32"
    with pytest.raises(ValueError, match="'float16' is not supported on cpu"):
        pick_compute_type("cpu", "float16", {"int8", "float32"})
    assert WhisperConfig().device == "cpu" and WhisperConfig().compute_type is None
    with pytest.raises(ValueError, match="device"):
        WhisperConfig(device="gpu")


@NO_CUDA
def test_auto_is_cpu_here_and_logged_once(caplog):
    from pipeline.asr import probe_device

    with caplog.at_level(logging.INFO, logger="pipeline.asr"):
        assert probe_device("auto", None) == ("cpu", "int8")
        assert probe_device("cpu", None) == ("cpu", "int8")  # explicit: nothing logged
    assert [r.getMessage() for r in caplog.records] == [
        "ASR device auto: cpu (0 CUDA device(s) visible), compute type int8"
    ]


@NO_CUDA
def test_cuda_is_refused_here_before_loading():
    from pipeline.asr import WhisperConfig, WhisperEngine

    with pytest.raises(ValueError, match="no CUDA device is visible"):
        WhisperEngine(_path(), WhisperConfig(device="cuda"))


def test_short_answers_are_said_once_in_finals(engine):
    """Issue 14: real recorded digits, letters, words and digit strings (a date read
    digit by digit, "four four zero seven", "no no") through the policy's partial and
    final jobs and the real model: no final has a word more often than it was said
    (partials keep the cheap short encode by default: WhisperConfig.partial_min_encode_ms)."""
    from bench.short import run, summary
    from pipeline.jobs import JobKind

    decodes = run(engine)
    assert [d for d in decodes if d.repeats and d.kind is JobKind.FINAL] == []
    assert summary(decodes, JobKind.PARTIAL)[0] > 31  # partials were decoded too
    assert summary(decodes, JobKind.FINAL)[:2] == (31, 0)
    assert summary(decodes, JobKind.FINAL)[2] < 0.15
    finals = {d.reference: d.words for d in decodes if d.kind is JobKind.FINAL}
    assert finals[("no", "no")] == ("no", "no")  # a true repeat is kept
    assert finals[("four", "four", "zero", "seven")][:2] == ("four", "four")


def test_short_answer_repeats_without_the_encode_floor(engine):
    """The cause: encoding only the utterance (no long silent tail) makes the decoder
    read a short answer again; the same items repeat with the floor off."""
    from bench.short import run, summary
    from pipeline.asr import WhisperConfig, WhisperEngine
    from pipeline.jobs import JobKind

    bare = WhisperEngine(_path(), WhisperConfig(num_workers=1, min_encode_ms=0))
    assert summary(run(bare), JobKind.FINAL)[1] > 5
    with pytest.raises(ValueError, match="min_encode_ms"):
        WhisperConfig(min_encode_ms=40000)
