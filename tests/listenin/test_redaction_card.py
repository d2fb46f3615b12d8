"""The card fixture (real recorded digits) through every output, replayed and over real SIP.

No output (events to listeners and the terminal, archive JSONL and text) holds
the card number, expiry or code, with the card read over two finals; the phone
and order numbers stay; with ``redact_audio`` the archived WAV of the customer
is silent over each redaction's words (plus the margin) and untouched elsewhere.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listenin.live import LiveJob
from listenin.replay import load_party, replay
from listenin.service import Outputs
from pipeline.numwords import norm, runs
from pipeline.redact import RedactionConfig
from pipeline.runtime import Pipeline, PipelineConfig
from records.events import CallEnded, Redaction, TranscriptFinal
from sinks.archive import ArchiveConfig
from sinks.layout import REDACT_MARGIN_MS
from sinks.terminal import JsonlRenderer
from softphone.admission import PartyRoles

from ..softphone.conftest import device_config, run_sim

ROOT = Path(__file__).resolve().parents[2]
CARD = json.loads((ROOT / "fixtures" / "card.json").read_text())
SIP_SECONDS = 46.0  # up to the code; the goodbye is not needed


def _digits(text: str) -> str:
    """The digits a text says, as figures or as words ("5, 5" and "five, five")."""
    return (
        re.sub(r"\D", "", text)
        + " "
        + "".join(r.digits for r in runs(list(map(norm, text.split()))))
    )


def _outputs(tmp_path: Path, live: bool = True) -> tuple[Outputs, io.StringIO, list]:
    terminal = io.StringIO()
    outputs = Outputs(archive=ArchiveConfig(tmp_path), renderer=JsonlRenderer(terminal),
                      redaction=RedactionConfig(redact_audio=True), live=live)  # fmt: skip
    heard: list = []
    outputs.add_listener(heard.append)
    return outputs, terminal, heard


def _check(heard: list, terminal: str, root: Path) -> np.ndarray:
    """Every output is free of the card data; the customer's archived audio (returned)."""
    (jsonl,) = root.rglob("transcript.jsonl")
    (text,) = root.rglob("transcript.txt")
    texts = [getattr(e, "text", "") for e in heard]  # finals and partials, as published
    for line in [*terminal.splitlines(), *jsonl.read_text().splitlines()]:
        texts.append(json.loads(line).get("text", ""))
    texts += [line.split("] ", 1)[-1] for line in text.read_text().splitlines()]  # no clock

    card, expiry, code = CARD["secret_digits"]
    for said in texts:
        for group in (card[:4], card[4:8], card[8:12], card[12:], expiry[1:], code):
            assert group not in _digits(said), said
    customer = " ".join(e.text for e in heard if isinstance(e, TranscriptFinal))
    phone, order = CARD["ordinary"]
    assert phone[-7:] in _digits(customer) and order in _digits(customer)  # ordinary numbers stay
    kinds = [e.kind for e in heard if isinstance(e, Redaction)]
    assert kinds.count("card") >= 2 and "expiry" in kinds and "cvv" in kinds
    (wav,) = root.rglob("customer.wav")
    return sf.read(wav, dtype="int16")[0]


def _silenced(audio: np.ndarray, heard: list) -> np.ndarray:
    """Which samples the redactions cover (their words plus the margin)."""
    rate, margin = CARD["sample_rate"], REDACT_MARGIN_MS / 1000
    covered = np.zeros(audio.size, dtype=bool)
    for e in heard:
        if isinstance(e, Redaction) and e.party == "customer":
            covered[max(0, round((e.start - margin) * rate)) : round((e.end + margin) * rate)] = (
                True
            )
    return covered


def test_the_replayed_card_call_leaks_no_card_data(engine, tmp_path):
    outputs, terminal, heard = _outputs(tmp_path, live=False)  # replayed faster than real time
    outputs.start()
    pipeline = Pipeline(engine, outputs.on_event, PipelineConfig(asr_workers=2))
    parties = [load_party(p, ROOT / "fixtures" / f) for p, f in CARD["parties"].items()]
    try:
        replay(pipeline, "card", parties, realtime=False, tap=outputs.on_audio)
    finally:
        pipeline.close()
        outputs.close()
    assert isinstance(heard[-1], CallEnded)
    audio = _check(heard, terminal.getvalue(), tmp_path)
    covered = _silenced(audio, heard)
    source = next(p.pcm for p in parties if p.party == "customer")
    assert (audio[covered] == 0).all()
    assert np.array_equal(audio[~covered], source[: audio.size][~covered])  # untouched elsewhere
    rate = CARD["sample_rate"]
    spoken = np.zeros(audio.size, dtype=bool)  # where the fixture really says the secrets
    for secret in CARD["secrets"]:
        for a, b in secret["spans"]:
            spoken[round(a * rate) : round(b * rate)] = True
    assert covered[spoken].mean() == 1.0  # every recorded secret digit is silenced


def test_listenin_transcribe_of_the_card_call_shows_no_card_data():
    files = [f"--party={p}={ROOT / 'fixtures' / f}" for p, f in CARD["parties"].items()]
    command = [sys.executable, "-m", "listenin", "transcribe", *files, "--format", "jsonl"]
    r = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    card, expiry, code = CARD["secret_digits"]
    for said in (_digits(e.get("text", "")) for e in events):
        for group in (card[:4], card[4:8], card[8:12], card[12:], expiry[1:], code):
            assert group not in said
    finals = _digits(" ".join(e["text"] for e in events if e["type"] == "transcript.final"))
    assert all(n[-7:] in finals for n in CARD["ordinary"])
    assert {"card", "expiry", "cvv"} <= {e["kind"] for e in events if e["type"] == "redaction"}


def test_the_card_call_over_sip_leaks_no_card_data(engine, tmp_path):
    outputs, terminal, heard = _outputs(tmp_path)
    outputs.start()
    roles = PartyRoles()
    roles.set("sim-1", "sim-1-1", "agent")
    roles.set("sim-1", "sim-1-2", "customer")

    def sink(event):
        outputs.on_event(event)
        job.note_event(event)

    pipeline = Pipeline(engine, sink, PipelineConfig(asr_workers=2))
    job = LiveJob(pipeline, device_config(), roles, tap=outputs.on_audio)
    job.start()
    try:
        rc, legs = run_sim(f"sip:listenin@{job.address}", "--form", "two-streams",
                           "--fixture", "card", "--seconds", str(SIP_SECONDS),
                           timeout=SIP_SECONDS + 60)  # fmt: skip
        assert rc == 0 and legs[0]["answered"]
        assert job.wait_calls_ended(1, 60)
    finally:
        job.stop()
        pipeline.close()
        outputs.close()
    assert isinstance(heard[-1], CallEnded)
    audio = _check(heard, terminal.getvalue(), tmp_path)
    covered = _silenced(audio, heard)
    assert covered.any() and (audio[covered] == 0).all()
    assert np.abs(audio[~covered]).max() > 1000  # the rest of the customer is recorded


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
