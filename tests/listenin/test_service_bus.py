"""A replayed real call published to a bus by a node's Outputs, served by two gateways.

The node is :class:`Outputs` with a bus (no SIP: call2 replayed into the real
pipeline, as in ``test_service.py``); two :class:`Gateway` s follow the same
real ``redis-server``.  A client on each gateway and one on the node see every
event with the same gapless ``seq``; a recording pause sent by a gateway client
reaches the node through the control stream (the feed halts at 5 s until its
``recording.paused`` comes back).
"""

from __future__ import annotations

import asyncio
import json
import threading

from websockets.asyncio.client import connect

from listenin.replay import replay
from listenin.service import Outputs
from pipeline.runtime import Pipeline, PipelineConfig
from sinks.archive import ArchiveConfig
from sinks.bus_layout import BusConfig
from sinks.gateway import Gateway
from sinks.server import ServerConfig

from .test_service import call2_start

SECONDS = 12.0
WAIT_S = 120.0


async def read_call(ws, got: list[dict]) -> None:  # type: ignore[no-untyped-def]
    while not got or got[-1].get("type") != "call.ended":
        msg = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
        if msg.get("call_id") == "c1" and "seq" in msg:
            got.append(msg)


def test_a_node_on_a_bus_reaches_clients_of_two_gateways_and_takes_their_pause(
    engine, tmp_path, redis_server
):
    bus = BusConfig(redis_server.url)
    outputs = Outputs(ServerConfig(port=0, stats_interval_s=0.5), ArchiveConfig(tmp_path), bus=bus)
    outputs.start()
    gateways = [Gateway(ServerConfig(port=0), bus) for _ in range(2)]
    for g in gateways:
        g.start()
    pipeline = Pipeline(engine, outputs.on_event, PipelineConfig(asr_workers=2))
    paused, reached = threading.Event(), threading.Event()

    def tap(frame) -> None:  # type: ignore[no-untyped-def]
        if frame.start_s >= 5.0 and not paused.is_set():
            reached.set()
            paused.wait(WAIT_S)
        outputs.on_audio(frame)

    async def client() -> list[list[dict]]:
        urls = [outputs.server.url] + [g.url for g in gateways]
        got: list[list[dict]] = [[] for _ in urls]
        async with (
            connect(urls[0]) as on_node, connect(urls[1]) as on_a, connect(urls[2]) as on_b
        ):  # fmt: skip
            socks = [on_node, on_a, on_b]
            for ws in socks:
                assert json.loads(await ws.recv())["type"] == "hello"
                await ws.send(json.dumps({"type": "subscribe", "calls": ["c1"]}))
                assert json.loads(await ws.recv())["type"] == "subscribed"
            loop = asyncio.get_running_loop()
            feeding = loop.run_in_executor(
                None, lambda: replay(pipeline, "c1", call2_start(SECONDS), realtime=False, tap=tap)
            )
            await loop.run_in_executor(None, reached.wait, WAIT_S)
            await on_b.send(json.dumps({"type": "recording.pause", "call_id": "c1"}))
            while not any(m["type"] == "recording.paused" for m in got[2]):
                got[2].append(json.loads(await asyncio.wait_for(on_b.recv(), WAIT_S)))
            paused.set()
            await asyncio.gather(*(read_call(ws, g) for ws, g in zip(socks, got, strict=True)))
            await feeding
        return got

    try:
        on_node, on_a, on_b = asyncio.run(client())
    finally:
        pipeline.close()
        for g in gateways:
            g.stop()
        outputs.close()
    seqs = [m["seq"] for m in on_node]
    assert seqs == list(range(1, len(seqs) + 1))
    assert on_a == on_node and on_b == on_node  # same events, same seq, same text
    kinds = {m["type"] for m in on_node}
    assert {"call.started", "transcript.final", "recording.paused", "call.ended"} <= kinds
    assert outputs.bus is not None and outputs.bus.writer.stats.dropped == 0
    (jsonl,) = tmp_path.rglob("transcript.jsonl")
    assert '"recording.paused"' in jsonl.read_text()
