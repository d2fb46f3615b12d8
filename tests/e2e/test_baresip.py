"""baresip as a third-party SIP peer: a plain softphone dials the device and plays a WAV.

baresip knows nothing of supervise headers or ``i=`` party lines, so the call is
identified by the fallback rule (the From user names the party) and the device
must still answer it, tap it and transcribe it under that label.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import soundfile as sf

from listenin.live import LiveJob
from listenin.wer import word_error_rate
from pipeline.runtime import Pipeline, PipelineConfig
from records.events import PartyJoined, TranscriptFinal

from ..softphone.conftest import ROOT, device_config
from .conftest import free_udp_port

SECONDS = 22.5  # call2's first turn: real speech, one party
MODULES = Path("/usr/lib/baresip/modules")


def baresip_config(workdir: Path, wav: Path, user: str) -> Path:
    """A config folder for a headless baresip that plays ``wav`` as its microphone."""
    folder = workdir / "baresip"
    folder.mkdir()
    sip_port, rtp_port = free_udp_port(), free_udp_port()
    (folder / "config").write_text(
        "poll_method poll\n"
        f"sip_listen 127.0.0.1:{sip_port}\n"
        "sip_trans_def udp\n"
        f"audio_source aufile,{wav}\n"
        f"audio_player aufile,{workdir / 'heard.wav'}\n"
        f"audio_alert aufile,{workdir / 'alert.wav'}\n"
        f"rtp_ports {rtp_port}-{rtp_port + 9}\n"
        f"module_path {MODULES}\n"
        "module g711.so\nmodule aufile.so\nmodule_app account.so\nmodule_app menu.so\n"
    )
    (folder / "accounts").write_text(f"<sip:{user}@127.0.0.1>;regint=0\n")
    return folder


@pytest.mark.skipif(
    shutil.which("baresip") is None or not (MODULES / "aufile.so").exists(),
    reason="baresip not installed (apt baresip)",
)
def test_baresip_call_is_answered_and_transcribed_under_its_from_user(engine, tmp_path):
    pcm = sf.read(ROOT / "fixtures" / "call2_agent.wav", dtype="int16")[0][: int(SECONDS * 8000)]
    wav = tmp_path / "agent.wav"
    sf.write(wav, pcm, 8000, subtype="PCM_16")
    folder = baresip_config(tmp_path, wav, "agent007")
    events: list = []

    def sink(event):
        events.append(event)
        job.note_event(event)

    pipeline = Pipeline(engine, sink, PipelineConfig(asr_workers=2))
    job = LiveJob(pipeline, device_config())
    job.start()
    try:
        # baresip hangs up by itself when the WAV ends ("audio error: end of file")
        proc = subprocess.run(
            ["baresip", "-f", str(folder), "-e", f"/dial sip:listenin@{job.address}",
             "-t", str(int(SECONDS) + 15)],
            capture_output=True, text=True, timeout=SECONDS + 60,
        )  # fmt: skip
        assert "Call established" in proc.stdout, proc.stdout[-3000:]
        assert job.wait_calls_ended(1, 60), proc.stdout[-3000:]
    finally:
        job.stop()
        pipeline.close()
    joined = [e for e in events if isinstance(e, PartyJoined)]
    assert [e.party for e in joined] == ["agent007"]
    finals = sorted((e for e in events if isinstance(e, TranscriptFinal) and e.text),
                    key=lambda e: e.start)  # fmt: skip
    assert finals and {e.party for e in finals} == {"agent007"}
    call2 = json.loads((ROOT / "fixtures" / "call2.json").read_text())
    ref = call2["utterances"][0]["text"]
    wer = word_error_rate(ref, " ".join(e.text for e in finals))
    print(f"baresip WER {wer:.3f}")
    assert wer <= 0.15
