"""Bus benchmark: what a call puts on Redis, and how fast a gateway's client gets it.

Replays ``fixtures/call2`` (both parties, at live pace unless ``--fast``) through
the real pipeline (tiny.en) into :class:`listenin.service.Outputs` with a bus,
as ``listenin run --bus`` wires it, against a ``redis-server`` this benchmark
starts (a free port, no persistence; or ``--bus URL``).  One :class:`Gateway`
follows the bus in this process and one websocket client subscribes to it.

Figures: bus entries and bytes (field names and values, as XADDed) per second
of call, per event type; Redis's own memory for the call's stream; and the
fan-out delay from the node's hub stamping an event (the moment the bus
writer is handed it) to the gateway's client receiving it, p50/p95/max over
every event of the call.  Prints one JSON line.

    python -m bench.bus            # live pace, the whole call (~82 s)
    python -m bench.bus --fast     # as fast as the pipeline goes (delays then bursty)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import redis
from websockets.asyncio.client import connect

from listenin.replay import load_party, replay
from listenin.service import Outputs
from models import resolve
from pipeline.asr import WhisperConfig, WhisperEngine
from pipeline.runtime import Pipeline, PipelineConfig
from sinks.bus_layout import BusConfig, call_key, index_key
from sinks.gateway import Gateway
from sinks.hub import Outgoing
from sinks.server import ServerConfig

from .realtime import machine, pct

ROOT = Path(__file__).resolve().parents[1]
CALL = "bench-call"


def local_redis(folder: str) -> tuple[subprocess.Popen[bytes], str]:
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", folder],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0"


def entry_bytes(fields: dict[bytes, bytes]) -> int:
    return sum(len(k) + len(v) for k, v in fields.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bus", help="an existing Redis (default: start one)")
    ap.add_argument("--fast", action="store_true", help="replay as fast as the pipeline goes")
    ap.add_argument("--seconds", type=float, help="replay only this much of the call")
    args = ap.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-bus-")
    proc, url = (None, args.bus) if args.bus else local_redis(folder)
    try:
        print(json.dumps(run(url, args)))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def run(url: str, args: argparse.Namespace) -> dict:  # type: ignore[type-arg]
    ref = json.loads((ROOT / "fixtures" / "call2.json").read_text())
    parties = [load_party(p, ROOT / "fixtures" / f) for p, f in ref["parties"].items()]
    if args.seconds:
        parties = [replace(p, pcm=p.pcm[: int(args.seconds * p.sample_rate)]) for p in parties]
    seconds = max(p.pcm.size / p.sample_rate for p in parties)
    bus = BusConfig(url, stream_prefix=f"bench-{time.time_ns()}")
    outputs = Outputs(ServerConfig(port=0), None, bus=bus)
    stamped: dict[int, float] = {}
    assert outputs.bus is not None and outputs.server is not None
    to_bus = outputs.bus.on_stamped

    def timed(msg: Outgoing) -> None:
        if msg.call_id == CALL:
            stamped[msg.seq] = time.perf_counter()
        to_bus(msg)

    outputs.server.hub.on_stamped = timed
    outputs.start()
    gateway = Gateway(ServerConfig(port=0), bus)
    gateway.start()
    engine = WhisperEngine(resolve("tiny.en"), WhisperConfig(num_workers=2))
    pipeline = Pipeline(engine, outputs.on_event, PipelineConfig(asr_workers=2))
    received: dict[int, float] = {}
    subscribed = threading.Event()

    async def client() -> None:
        async with connect(gateway.url, max_size=None) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "subscribe", "calls": [CALL]}))
            await ws.recv()
            subscribed.set()
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 120))
                received[msg["seq"]] = time.perf_counter()
                if msg["type"] == "call.ended":
                    return

    reader = threading.Thread(target=lambda: asyncio.run(client()))
    reader.start()
    subscribed.wait(30)
    try:
        replay(pipeline, CALL, parties, realtime=not args.fast)
        reader.join(180)
    finally:
        pipeline.close()
        gateway.stop()
        outputs.close()
    r = redis.Redis.from_url(url)
    entries = r.xrange(call_key(bus.stream_prefix, CALL))
    index = r.xrange(index_key(bus.stream_prefix))
    kinds = Counter(fields[b"type"].decode() for _, fields in entries)
    size = sum(entry_bytes(f) for _, f in entries) + sum(entry_bytes(f) for _, f in index)
    delays = sorted((received[s] - stamped[s]) * 1000 for s in received if s in stamped)
    writer = outputs.bus.writer.stats
    return {
        "bench": "bus", "machine": machine(), "call_s": round(seconds, 1),
        "live_pace": not args.fast, "entries": len(entries) + len(index),
        "entries_per_call_s": round((len(entries) + len(index)) / seconds, 2),
        "bytes_per_call_s": round(size / seconds), "by_type": dict(kinds),
        "redis_memory_bytes": r.memory_usage(call_key(bus.stream_prefix, CALL)),
        "pipelines": writer.batches, "dropped": writer.dropped,
        "delivered": len(received), "missing": len(stamped) - len(received),
        "fanout_ms_p50": pct(delays, 50), "fanout_ms_p95": pct(delays, 95),
        "fanout_ms_max": round(delays[-1], 2) if delays else None,
    }  # fmt: skip


if __name__ == "__main__":
    main()
