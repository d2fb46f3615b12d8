"""/healthz, /readyz and /metrics over real HTTP from a real server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from listenin.observe import Observer
from listenin.replay import PartyAudio, load_party, replay
from listenin.service import Outputs
from pipeline.runtime import Pipeline, PipelineConfig
from records.device import LegAnswered, LegRejected, RegistrationChanged, StreamStats
from records.frames import AudioFrame
from sinks.archive import Archive, ArchiveConfig
from sinks.server import EventServer, ServerConfig
from sinks.stats import CallStatsBook

ROOT = Path(__file__).resolve().parents[2]


def get(server: EventServer, path: str) -> tuple[int, str, str]:
    url = f"http://127.0.0.1:{server.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers["Content-Type"], r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read().decode()


def values(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_readyz_follows_registration_and_health_needs_no_token(tmp_path):
    token = "t" * 32
    out = Outputs(ServerConfig(port=0, token=token), ArchiveConfig(tmp_path))
    out.start()
    try:
        out.observer.watch(expect_registration=True)
        assert get(out.server, "/healthz") == (200, "text/plain; charset=utf-8", "ok\n")
        status, ctype, body = get(out.server, "/readyz")
        assert (status, ctype) == (503, "application/json")
        assert json.loads(body)["checks"]["registration"] == {
            "ok": False, "detail": "not registered yet"}  # fmt: skip
        out.on_device_event(RegistrationChanged(200, "OK", True, 300))
        status, _, body = get(out.server, "/readyz")
        assert status == 200 and json.loads(body)["ready"] is True
        out.on_device_event(RegistrationChanged(503, "Service Unavailable", False, 0))
        assert get(out.server, "/readyz")[0] == 503
        assert get(out.server, "/ws")[0] == 401  # the websocket still wants its token
    finally:
        out.close()


def test_readyz_turns_503_when_the_archive_fails(tmp_path):
    def failing(path: Path):
        raise OSError(28, "No space left on device", str(path))

    observer = Observer(CallStatsBook())
    observer.archive = Archive(ArchiveConfig(tmp_path), opener=failing)
    server = EventServer(ServerConfig(port=0), routes=observer.routes())
    observer.archive.start()
    server.start()
    try:
        assert get(server, "/readyz")[0] == 200
        pcm = np.zeros(160, dtype=np.int16)
        observer.archive.push(AudioFrame("c1", "agent", 8000, 0, pcm))
        assert observer.archive.flush()
        status, _, body = get(server, "/readyz")
        assert status == 503
        assert "file errors" in json.loads(body)["checks"]["archive"]["detail"]
        text = get(server, "/metrics")[2]
        assert values(text)[("listenin_archive_errors_total", ())] >= 1
        assert values(text)[("listenin_ready_check", (("check", "archive"),))] == 0
    finally:
        server.stop()
        observer.archive.close()


def test_metrics_after_a_short_replayed_call(engine, tmp_path):
    out = Outputs(ServerConfig(port=0), ArchiveConfig(tmp_path))
    out.start()
    pipeline = Pipeline(engine, out.on_event, PipelineConfig(asr_workers=2))
    out.observer.watch(pipeline)
    try:
        out.on_device_event(LegAnswered("l1", "c1", (), "10.0.0.1:5060", "headers", 12.0))
        out.on_device_event(LegRejected("10.0.0.2:5060", 503, "ASR overloaded"))
        out.on_device_event(StreamStats("c1", "agent", "PCMU", 400, 4, 0, 0, 0, 9.0, 40, 2, 1,
                                        0, 0))  # fmt: skip
        parties = []
        for party in ("agent", "customer"):
            p = load_party(party, ROOT / "fixtures" / f"call2_{party}.wav")
            parties.append(PartyAudio(party, p.sample_rate, p.pcm[: 8 * p.sample_rate]))
        replay(pipeline, "c1", parties, realtime=False, tap=out.on_audio)
        assert pipeline.pool.wait_idle(60)
        assert out.archive.flush()  # what was queued is written
        status, ctype, text = get(out.server, "/metrics")
        assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
        got = values(text)
        assert got[("listenin_calls_answered_total", ())] == 1
        assert got[("listenin_calls_refused_total", (("status", "503"),))] == 1
        assert got[("listenin_rtp_packets_total", ())] == 400
        assert got[("listenin_jitter_buffer_discarded_total", ())] == 1
        assert got[("listenin_finals_total", ())] >= 1
        assert (
            got[("listenin_final_latency_seconds_count", ())] == got[("listenin_finals_total", ())]
        )
        assert got[("listenin_asr_decode_seconds_count", ())] >= 1
        assert got[("listenin_asr_decode_seconds_sum", ())] > 0
        assert got[("listenin_asr_queued_finals", ())] == 0
        assert got[("listenin_frames_dropped_total", (("stage", "pipeline"),))] == 0
        assert got[("listenin_ws_events_published_total", ())] >= 1
        assert got[("listenin_archive_bytes_total", ())] > 0
        assert got[("listenin_ready", ())] == 1
        assert get(out.server, "/readyz")[0] == 200
    finally:
        pipeline.close()
        out.close()
