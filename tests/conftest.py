"""Shared fixtures: the bundled call and one real model engine per session."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(scope="session")
def call1() -> dict:
    ref = json.loads((FIXTURES / "call1.json").read_text())
    ref["audio"] = {
        party: sf.read(FIXTURES / name, dtype="int16")[0] for party, name in ref["parties"].items()
    }
    ref["paths"] = {party: FIXTURES / name for party, name in ref["parties"].items()}
    return ref


@pytest.fixture(scope="session")
def call2() -> dict:
    """The real-speech call (Allison Smith's prompts and a LibriVox reader)."""
    ref = json.loads((FIXTURES / "call2.json").read_text())
    ref["audio"] = {
        party: sf.read(FIXTURES / name, dtype="int16")[0] for party, name in ref["parties"].items()
    }
    return ref


@pytest.fixture(scope="session")
def engine():
    from models import resolve
    from pipeline.asr import WhisperConfig, WhisperEngine

    return WhisperEngine(resolve("tiny.en"), WhisperConfig(num_workers=2))


def utterance_pcm(call: dict, index: int, pad_s: float = 0.2) -> np.ndarray:
    u = call["utterances"][index]
    rate = call["sample_rate"]
    a = max(0, int((u["start"] - pad_s) * rate))
    b = int((u["end"] + pad_s) * rate)
    return call["audio"][u["party"]][a:b]


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server on a free port, stopped after the test (skipped if not installed)."""
    from tests.redis_server import redis_or_skip

    yield from redis_or_skip(tmp_path)
