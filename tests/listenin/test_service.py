"""A replayed real call through every output: websocket client, schema, archive, pause."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import jsonschema
import pytest
import soundfile as sf
from websockets.asyncio.client import connect

from listenin.replay import PartyAudio, load_party, replay
from listenin.service import Outputs
from pipeline.commit import CommitConfig
from pipeline.party import StreamConfig
from pipeline.runtime import Pipeline, PipelineConfig
from sinks.archive import ArchiveConfig
from sinks.server import ServerConfig

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schema" / "events.schema.json").read_text())
SECONDS = 26.0  # call2: the agent's first turn and the customer's first answer
CALL_EVENTS = {"call.started", "party.joined", "transcript.partial", "transcript.final",
               "party.left", "call.ended", "call.stats", "recording.paused",
               "recording.resumed"}  # fmt: skip


def call2_start(seconds: float) -> list[PartyAudio]:
    out = []
    for party in ("agent", "customer"):
        p = load_party(party, ROOT / "fixtures" / f"call2_{party}.wav")
        out.append(PartyAudio(party, p.sample_rate, p.pcm[: int(seconds * p.sample_rate)]))
    return out


def test_replayed_call_reaches_a_websocket_client_and_the_archive(engine, tmp_path):
    outputs = Outputs(ServerConfig(port=0, stats_interval_s=0.2), ArchiveConfig(tmp_path))
    outputs.start()
    pipeline = Pipeline(engine, outputs.on_event, PipelineConfig(asr_workers=2))
    got: list[dict] = []
    # the feed halts at 5 s until the pause is applied and at 10 s until the resume is
    marks = {5.0: threading.Event(), 10.0: threading.Event()}
    reached = {t: threading.Event() for t in marks}

    def tap(frame) -> None:
        for t, done in marks.items():
            if frame.start_s >= t and not done.is_set():
                reached[t].set()
                done.wait(30)
        outputs.on_audio(frame)

    async def client() -> None:
        async with connect(outputs.server.url) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            await ws.send(json.dumps({"type": "subscribe", "replay": True}))
            loop = asyncio.get_running_loop()
            feeding = loop.run_in_executor(
                None, lambda: replay(pipeline, "c1", call2_start(SECONDS), realtime=False, tap=tap)
            )
            await ws.send(json.dumps({"type": "recording.pause", "call_id": "nope"}))
            for t, kind in ((5.0, "pause"), (10.0, "resume")):
                await loop.run_in_executor(None, reached[t].wait, 30)
                await ws.send(json.dumps({"type": f"recording.{kind}", "call_id": "c1"}))
                while True:
                    got.append(json.loads(await asyncio.wait_for(ws.recv(), 60)))
                    if got[-1]["type"].startswith("recording."):
                        marks[t].set()
                        break
            while got[-1].get("type") != "call.ended":
                got.append(json.loads(await asyncio.wait_for(ws.recv(), 120)))
            await feeding

    try:
        asyncio.run(client())
    finally:
        pipeline.close()
        outputs.close()

    validator = jsonschema.Draft202012Validator(SCHEMA)
    for msg in got:
        validator.validate(msg)
    kinds = {m["type"] for m in got}
    assert CALL_EVENTS <= kinds, CALL_EVENTS - kinds
    assert any(m["type"] == "error" and m["code"] == "unknown_call" for m in got)
    seqs = [m["seq"] for m in got if m.get("call_id") == "c1"]
    assert seqs == list(range(1, len(seqs) + 1))  # every event, in order, none lost
    finals = [m for m in got if m["type"] == "transcript.final" and m["text"]]
    assert {m["party"] for m in finals} == {"agent", "customer"}
    assert "echo test" in " ".join(m["text"] for m in finals).lower()

    (folder,) = [p.parent for p in tmp_path.rglob("stereo.wav")]
    stereo, rate = sf.read(folder / "stereo.wav", dtype="int16")
    assert stereo.shape[1] == 2 and abs(stereo.shape[0] / rate - SECONDS) < 0.1
    lines = [json.loads(x) for x in (folder / "transcript.jsonl").read_text().splitlines()]
    assert [x["type"] for x in lines if x["type"].startswith("recording.")] == [
        "recording.paused", "recording.resumed"]  # fmt: skip
    pause, resume = (x["at"] for x in lines if x["type"].startswith("recording."))
    assert 4.9 <= pause <= 5.0 and 9.9 <= resume <= 10.0
    a, b = int(pause * rate) + 1, int(resume * rate)
    assert not stereo[a:b].any()  # paused audio is never written
    assert stereo[: int(pause * rate)].any() and stereo[b:].any()
    assert (folder / "transcript.txt").read_text().lower().count("echo test") >= 1


def test_live_sip_call_reaches_a_websocket_client_with_rtp_stats(engine, tmp_path):
    from listenin.live import LiveJob
    from softphone.admission import PartyRoles

    from ..softphone.conftest import device_config, run_sim

    seconds = 8.0
    roles = PartyRoles()
    roles.set("sim-1", "sim-1-1", "agent")
    roles.set("sim-1", "sim-1-2", "customer")
    outputs = Outputs(ServerConfig(port=0, stats_interval_s=0.5), ArchiveConfig(tmp_path))
    outputs.start()
    pipeline = Pipeline(engine, outputs.on_event, PipelineConfig(asr_workers=2))
    job = LiveJob(pipeline, device_config(), roles, outputs.on_device_event, outputs.on_audio)
    job.start()
    got: list[dict] = []

    async def client() -> None:
        async with connect(outputs.server.url) as ws:
            await ws.recv()  # hello
            await ws.send(json.dumps({"type": "subscribe", "calls": ["sim-1"]}))
            await ws.recv()  # subscribed
            sim = asyncio.get_running_loop().run_in_executor(
                None, lambda: run_sim(f"sip:listenin@{job.address}", "--fixture", "call2",
                                      "--form", "two-streams", "--seconds", str(seconds))
            )  # fmt: skip
            while not got or got[-1]["type"] != "call.ended":
                got.append(json.loads(await asyncio.wait_for(ws.recv(), 60)))
            rc, legs = await sim
            assert rc == 0 and legs[0]["answered"]

    try:
        asyncio.run(client())
    finally:
        job.stop()
        pipeline.close()
        outputs.close()
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for msg in got:
        validator.validate(msg)
    stats = [m for m in got if m["type"] == "call.stats"]
    assert any("rx_packets" in p and p["rx_packets"] > 0
               for m in stats for p in m["parties"].values())  # fmt: skip
    assert any(p["level_dbfs"] > -60 for m in stats for p in m["parties"].values())
    text = " ".join(m["text"] for m in got if m["type"] == "transcript.final").lower()
    assert "echo" in text
    agent, rate = sf.read(next(tmp_path.rglob("agent.wav")), dtype="int16")
    assert abs(agent.size / rate - seconds) < 0.5


def test_each_event_is_serialised_once_for_the_hub_the_archive_and_the_terminal(
    tmp_path, monkeypatch
):
    import io

    import numpy as np

    import records.events as records_events
    from records.events import CallEnded, CallStarted, PartyJoined, PartyLeft, TranscriptFinal, Word
    from records.frames import AudioFrame
    from sinks.terminal import JsonlRenderer

    made: list[str] = []  # JSON texts made
    walked: list[str] = []  # field walks (to_dict) of events: json.dumps(to_dict()) counts too
    to_json, to_dict = records_events.to_json, records_events.to_dict

    def counting_json(record):
        made.append(record.type)
        return to_json(record)

    def counting_dict(record):
        if hasattr(record, "type"):
            walked.append(record.type)
        return to_dict(record)

    monkeypatch.setattr(records_events, "to_json", counting_json)
    monkeypatch.setattr(records_events, "to_dict", counting_dict)
    terminal = io.StringIO()
    outputs = Outputs(ServerConfig(port=0, stats_interval_s=0), ArchiveConfig(tmp_path),
                      renderer=JsonlRenderer(terminal))  # fmt: skip
    outputs.start()
    events = [
        CallStarted("c1", 0.0),
        PartyJoined("c1", "agent", 8000, 0.0),
        TranscriptFinal(
            "c1", "agent", "agent-1", 0.5, 1.5, "héllo", 1.9, (Word("héllo", 0.5, 1.5, 0.9),)
        ),
        PartyLeft("c1", "agent", 2.0),
        CallEnded("c1", 2.1, 2.0),
    ]
    got: list[dict] = []

    async def client() -> None:
        assert outputs.server is not None
        async with connect(outputs.server.url) as ws:
            await ws.recv()  # hello
            await ws.send(json.dumps({"type": "subscribe"}))
            await ws.recv()  # subscribed
            for event in events[:3]:
                outputs.on_event(event)
            outputs.on_audio(AudioFrame("c1", "agent", 8000, 0, np.zeros(8000, np.int16)))
            await ws.send(json.dumps({"type": "recording.pause", "call_id": "c1"}))
            while len(got) < 4:  # the pause comes back as an event, serialised once too
                got.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
            for event in events[3:]:
                outputs.on_event(event)
            while len(got) < len(events) + 1:
                got.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))

    try:
        asyncio.run(client())
    finally:
        assert outputs.renderer is not None
        outputs.renderer.close()
        outputs.close()
    kinds = [e.type for e in events]
    kinds.insert(3, "recording.paused")
    assert made == kinds and walked == kinds  # one serialisation per event, for all sinks
    assert [m["type"] for m in got] == kinds and [m["seq"] for m in got] == [1, 2, 3, 4, 5, 6]
    assert [{k: v for k, v in m.items() if k != "seq"} for m in got if m["type"] != kinds[3]] == [
        e.to_dict() for e in events]  # fmt: skip
    assert terminal.getvalue().splitlines() == [e.to_json() for e in events]
    (jsonl,) = tmp_path.rglob("transcript.jsonl")
    lines = jsonl.read_text(encoding="utf-8").splitlines()
    paused = {k: v for k, v in got[3].items() if k != "seq"}
    assert lines == [events[2].to_json(), json.dumps(paused, ensure_ascii=False)]


def test_partials_no_client_wants_are_not_decoded(engine):
    """A finals-only client (``"partials": false``) gets finals; with no other output
    wanting them (and the streaming commit off: it decodes partials for itself), the
    pipeline decodes no partials at all."""
    outputs = Outputs(ServerConfig(port=0, stats_interval_s=0))
    outputs.start()
    stream = StreamConfig(commit=CommitConfig(enabled=False))
    pipeline = Pipeline(engine, outputs.on_event, PipelineConfig(stream=stream, asr_workers=2))
    pipeline.partials_wanted = outputs.wants_partials
    got: list[dict] = []

    async def client() -> None:
        async with connect(outputs.server.url) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            await ws.send(json.dumps({"type": "subscribe", "partials": False}))
            await asyncio.sleep(0.2)  # the subscription is in before the call starts
            loop = asyncio.get_running_loop()
            feeding = loop.run_in_executor(
                None, lambda: replay(pipeline, "c1", call2_start(SECONDS), realtime=False)
            )
            while not got or got[-1]["type"] != "call.ended":
                got.append(json.loads(await asyncio.wait_for(ws.recv(), 120)))
            await feeding

    try:
        asyncio.run(client())
    finally:
        pipeline.close()
        outputs.close()
    kinds = [e["type"] for e in got]
    assert "transcript.final" in kinds and "transcript.partial" not in kinds
    assert pipeline.stats.partials_skipped > 0 and pipeline.stats.partials == 0


@pytest.mark.parametrize("kept", [False, True])
def test_a_paused_call_reaches_subscribers_without_its_words(tmp_path, kept):
    from records.events import CallEnded, TranscriptFinal, TranscriptPartial, Word

    outputs = Outputs(ServerConfig(port=0, stats_interval_s=0),
                      ArchiveConfig(tmp_path, transcript_while_paused=kept))  # fmt: skip
    outputs.start()
    words = (Word(" card", 1.0, 1.4, 0.9), Word(" 4242", 1.5, 2.0, 0.8))
    spoken = TranscriptFinal("c1", "customer", "customer-1", 1.0, 2.0, " card 4242", 2.5, words)
    partial = TranscriptPartial("c1", "customer", "customer-1", 1.0, 1.5, " card", 1.6)

    async def client() -> list[dict]:
        async with connect(outputs.server.url) as ws:
            await ws.recv()  # hello
            await ws.send(json.dumps({"type": "subscribe"}))
            await ws.recv()  # subscribed
            assert outputs.archive.pause("c1", 0.5) is not None
            outputs.on_event(partial)
            outputs.on_event(spoken)
            outputs.on_event(CallEnded("c1", 3.0, 3.0))
            return [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(3)]

    try:
        got = asyncio.run(client())
    finally:
        outputs.close()
    texts = [(m["type"], m.get("text"), m.get("words")) for m in got[:2]]
    if kept:
        assert texts == [
            ("transcript.partial", " card", None),
            ("transcript.final", " card 4242", [w.to_dict() for w in words]),
        ]
    else:
        assert texts == [("transcript.partial", "", None), ("transcript.final", "", [])]
    (jsonl,) = tmp_path.rglob("transcript.jsonl")
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert any(x["type"] == "transcript.final" for x in lines) is kept
    assert "4242" not in jsonl.read_text() or kept
