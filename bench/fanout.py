"""Websocket fan-out benchmark: pipeline emit -> client receive with many subscribers.

The server runs in this process exactly as ``listenin run`` runs it (its own
thread and event loop); ``--subscribers`` real ``websockets`` clients run in a
second process, so they do not share the server's interpreter lock.  A
producer thread publishes transcript events at ``--rate`` per second (a mix of
partials and finals, as four busy calls produce) stamped with the monotonic
clock at publish time; every client notes the receive time of every event.
Prints the delay percentiles over all deliveries and, as the last line, one
JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import threading
import time

from sinks.server import EventServer, ServerConfig

from .realtime import machine, pct


def clients(url: str, count: int, events: int, ready, out) -> None:  # type: ignore[no-untyped-def]
    from websockets.asyncio.client import connect

    async def one(delays: list[float]) -> None:
        async with connect(url, max_size=None) as ws:
            await ws.recv()  # hello
            await ws.send(json.dumps({"type": "subscribe"}))
            await ws.recv()  # subscribed
            ready.put(1)
            for _ in range(events):
                msg = json.loads(await ws.recv())
                delays.append(time.monotonic() - msg["sent_at"])

    async def main() -> list[float]:
        delays: list[float] = []
        await asyncio.gather(*(one(delays) for _ in range(count)))
        return delays

    out.put(asyncio.run(main()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subscribers", type=int, default=100)
    p.add_argument("--events", type=int, default=1000)
    p.add_argument("--rate", type=float, default=50.0, help="events per second")
    args = p.parse_args()
    server = EventServer(ServerConfig(port=0, stats_interval_s=0))
    server.start()
    ctx = mp.get_context("spawn")
    ready, out = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=clients, args=(server.url, args.subscribers, args.events, ready, out))
    proc.start()
    for _ in range(args.subscribers):
        ready.get(timeout=60)
    print(f"{args.subscribers} subscribers connected; publishing {args.events} events "
          f"at {args.rate:.0f}/s", flush=True)  # fmt: skip

    def produce() -> None:
        start = time.monotonic()
        for n in range(args.events):
            due = start + n / args.rate
            time.sleep(max(0.0, due - time.monotonic()))
            kind = "transcript.final" if n % 5 == 4 else "transcript.partial"
            server.publish({
                "type": kind, "call_id": f"call-{n % 4}", "party": "agent",
                "segment_id": f"s{n // 5}", "start": n * 0.1, "end": n * 0.1 + 2,
                "text": "thank you for calling northwind support how can I help you today",
                "emitted_at": n * 0.1 + 2, "sent_at": time.monotonic(),
            })  # fmt: skip

    producer = threading.Thread(target=produce)
    producer.start()
    delays = sorted(out.get(timeout=args.events / args.rate + 120))
    producer.join()
    proc.join(10)
    server.stop()
    ms = [d * 1000 for d in delays]
    result = {
        "subscribers": args.subscribers,
        "events": args.events,
        "rate_per_s": args.rate,
        "deliveries": len(ms),
        "fanout_ms_p50": round(pct(ms, 50), 2),
        "fanout_ms_p95": round(pct(ms, 95), 2),
        "fanout_ms_max": round(ms[-1], 2),
        "slow_disconnects": server.stats.slow_disconnects,
        "machine": machine(),
    }
    print(f"fan-out delay over {len(ms)} deliveries: p50 {result['fanout_ms_p50']} ms, "
          f"p95 {result['fanout_ms_p95']} ms, max {result['fanout_ms_max']} ms")  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
