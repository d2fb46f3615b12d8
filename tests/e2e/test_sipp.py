"""sipp as a third-party caller: custom headers, RTP from a pcap with impairments."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import soundfile as sf

from listenin.live import LiveJob
from listenin.wer import word_error_rate
from pbxsim.pcap import Impairment, write_pcap
from pipeline.runtime import Pipeline, PipelineConfig
from records.device import StreamStats
from records.events import TranscriptFinal

from ..softphone.conftest import ROOT, device_config

SCENARIO = Path(__file__).with_name("sipp_supervise.xml")
SECONDS = 22.5  # call2's first turn: real speech, one party


def sipp_call(target: str, pcap: Path, play_ms: int, workdir: Path) -> int:
    scenario = workdir / "scenario.xml"  # play_pcap_audio takes no [field]s: fill them in
    scenario.write_text(
        SCENARIO.read_text().replace("[field0]", str(pcap)).replace("[field1]", str(play_ms))
    )
    proc = subprocess.run(
        ["sipp", "-sf", str(scenario), "-m", "1", "-i", "127.0.0.1",
         "-p", "0", "-mi", "127.0.0.1", "-mp", "0", "-nostdin", "-timeout", "90s",
         "-timeout_error", "-trace_err", "-error_file", str(workdir / "sipp.err"), target],
        cwd=workdir, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return proc.returncode


def transcript_over_sipp(engine, tmp_path: Path, imp: Impairment) -> tuple[str, list]:
    pcm = sf.read(ROOT / "fixtures" / "call2_agent.wav", dtype="int16")[0][: int(SECONDS * 8000)]
    pcap = tmp_path / f"agent-{imp.seed}-{imp.loss}.pcap"
    write_pcap(pcap, pcm, "PCMU", imp)
    events: list = []
    stats: list = []

    def sink(event):
        events.append(event)
        job.note_event(event)

    pipeline = Pipeline(engine, sink, PipelineConfig(asr_workers=2))

    def on_device_event(e):
        if isinstance(e, StreamStats):
            stats.append(e)

    job = LiveJob(pipeline, device_config(), on_device_event=on_device_event)
    job.start()
    try:
        rc = sipp_call(job.address, pcap, int(SECONDS * 1000) + 500, tmp_path)
        assert rc == 0, (
            (tmp_path / "sipp.err").read_text()[-2000:] if (tmp_path / "sipp.err").exists() else rc
        )
        assert job.wait_calls_ended(1, 60)
    finally:
        job.stop()
        pipeline.close()
    finals = sorted((e for e in events if isinstance(e, TranscriptFinal) and e.text),
                    key=lambda e: e.start)  # fmt: skip
    assert {e.party for e in finals} == {"agent"}
    return " ".join(e.text for e in finals), stats


@pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp not installed (apt sip-tester)")
def test_jitter_loss_and_reorder_stay_within_5_points(engine, tmp_path):
    call2 = json.loads((ROOT / "fixtures" / "call2.json").read_text())
    ref = " ".join(u["text"] for u in call2["utterances"]
                   if u["party"] == "agent" and u["end"] <= SECONDS)  # fmt: skip
    clean, _ = transcript_over_sipp(engine, tmp_path, Impairment())
    rough, stats = transcript_over_sipp(
        engine, tmp_path, Impairment(40, 20, loss=0.03, reorder=0.03, seed=7)
    )
    clean_wer, rough_wer = word_error_rate(ref, clean), word_error_rate(ref, rough)
    print(f"sipp clean WER {clean_wer:.3f}, impaired WER {rough_wer:.3f}; last stats {stats[-1:]}")
    assert rough_wer <= clean_wer + 0.05
    assert stats and stats[-1].lost > 0  # the loss was seen and counted by PJMEDIA
