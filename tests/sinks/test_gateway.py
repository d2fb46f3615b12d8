"""Gateways serving a node's events from a real Redis: same seq, resume, outages.

A node here is an :class:`EventServer` whose hub hands each stamped message to a
:class:`NodeBus` (as :class:`listenin.service.Outputs` wires it); events are
published as dicts.  Waits are bounded; nothing asserts on time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from sinks.bus_layout import BusConfig
from sinks.bus_node import NodeBus
from sinks.gateway import Gateway
from sinks.server import EventServer, ServerConfig

from .. import waiting

WAIT_S = 30.0


def wait_until(cond: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    waiting.wait_until(cond, what, timeout_s)


def call_events(call_id: str, turns: int) -> list[dict]:
    out: list[dict] = [{"type": "call.started", "call_id": call_id}]
    out.append({"type": "party.joined", "call_id": call_id, "party": "agent"})
    for n in range(turns):
        party = ("agent", "customer")[n % 2]
        out.append({"type": "transcript.partial", "call_id": call_id, "party": party,
                    "text": f"turn {n} so far"})  # fmt: skip
        out.append({"type": "transcript.final", "call_id": call_id, "party": party,
                    "text": f"turn {n}"})  # fmt: skip
    out.append({"type": "call.ended", "call_id": call_id})
    return out


class Node:
    def __init__(self, bus: BusConfig) -> None:
        self.bus = NodeBus(bus)
        self.server = EventServer(ServerConfig(port=0), on_stamped=self.bus.on_stamped)

    def __enter__(self) -> Node:
        self.bus.start()
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self.bus.close()

    def publish(self, events: list[dict]) -> None:
        for event in events:
            self.server.publish(event)

    def flushed(self) -> bool:
        w = self.bus.writer
        return w.pending() == 0 and w.stats.written + w.stats.dropped >= self.sent()

    def sent(self) -> int:
        return self.server.hub.stats.published


async def collect(url: str, until_seq: int, resume: dict[str, int] | None = None) -> list[dict]:
    """Subscribe to everything and read call events until one with ``until_seq``."""
    got: list[dict] = []
    async with connect(url) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))["type"] == "hello"
        await ws.send(json.dumps({"type": "subscribe", "resume": resume or {}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))["type"] == "subscribed"
        while not got or got[-1].get("seq", 0) < until_seq:
            got.append(json.loads(await asyncio.wait_for(ws.recv(), WAIT_S)))
    return got


def test_two_gateways_serve_every_event_with_the_nodes_seq(redis_server):
    bus = BusConfig(redis_server.url)
    events = call_events("c1", 100)
    a, b = Gateway(ServerConfig(port=0), bus), Gateway(ServerConfig(port=0), bus)
    with Node(bus) as node:
        a.start()
        b.start()
        try:

            async def main() -> list[list[dict]]:
                clients = [asyncio.create_task(collect(url, len(events)))
                           for url in (node.server.url, a.url, b.url)]  # fmt: skip
                await asyncio.sleep(0.5)  # let them subscribe: then the call starts
                node.publish(events)
                return list(await asyncio.gather(*clients))

            on_node, on_a, on_b = asyncio.run(main())
        finally:
            a.stop()
            b.stop()
    assert [m["seq"] for m in on_a] == list(range(1, len(events) + 1))
    assert on_a == on_b == on_node
    assert [m["type"] for m in on_a] == [e["type"] for e in events]


def test_a_client_resumes_on_a_restarted_gateway_without_a_gap(redis_server):
    bus = BusConfig(redis_server.url)
    events = call_events("c1", 60)
    half = len(events) // 2
    with Node(bus) as node:
        first = Gateway(ServerConfig(port=0), bus)
        first.start()
        try:

            async def before() -> list[dict]:
                client = asyncio.create_task(collect(first.url, half))
                await asyncio.sleep(0.5)
                node.publish(events[:half])
                return await client

            seen = asyncio.run(before())
        finally:
            first.stop()  # mid-call: the gateway goes away
        node.publish(events[half : half + 10])  # while no gateway runs
        wait_until(node.flushed, "the node's entries written")
        second = Gateway(ServerConfig(port=0), bus)
        second.start()
        try:

            async def after() -> list[dict]:
                client = asyncio.create_task(collect(second.url, len(events), {"c1": half}))
                await asyncio.sleep(0.3)
                node.publish(events[half + 10 :])
                return await client

            rest = asyncio.run(after())
        finally:
            second.stop()
    assert [m["seq"] for m in seen + rest] == list(range(1, len(events) + 1))
    assert [m["text"] for m in seen + rest if m["type"] == "transcript.final"] == [
        f"turn {n}" for n in range(60)
    ]


def test_the_node_and_a_gateway_ride_out_a_redis_outage_counting_drops(redis_server):
    bus = BusConfig(redis_server.url, queue_entries=32)
    events = call_events("c1", 150)
    gateway = Gateway(ServerConfig(port=0), bus)
    with Node(bus) as node:
        gateway.start()
        try:

            async def main() -> list[dict]:
                client = asyncio.create_task(collect(gateway.url, len(events)))
                await asyncio.sleep(0.5)
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, outage, node, redis_server, events)
                return await client

            on_gateway = asyncio.run(main())
        finally:
            gateway.stop()
        stats = node.bus.writer.stats
        # the node's own clients got every event, in order
        assert node.server.hub.last_seq("c1") == len(events)
    assert stats.outages == 1
    assert stats.dropped > 0
    assert gateway.reader.outages == 1
    # what was left in the queue and came after Redis returned is on the bus, in order
    entries = redis_server.client().xrange("listenin:call:c1")
    seqs = [int(fields[b"seq"]) for _, fields in entries]
    assert seqs == sorted(seqs) and seqs[-1] == len(events)
    # while Redis was down the queue (32) kept finals, dropping partials first: the
    # newest 32 finals of the outage made it (as may the batch in flight when it began)
    finals = [n for n, e in enumerate(events[:-20], 1) if e["type"] == "transcript.final"]
    assert set(finals[-32:]) <= set(seqs)
    # the gateway's client saw the seq go up, with the dropped ones missing, to the end
    got = [m["seq"] for m in on_gateway]
    assert got == sorted(set(got)) and got[-1] == len(events) and len(got) < len(events)


def outage(node: Node, redis_server, events: list[dict]) -> None:  # type: ignore[no-untyped-def]
    node.publish(events[:20])
    wait_until(node.flushed, "the first entries written")
    redis_server.stop()
    node.publish(events[20:-20])  # ~280 events into a queue of 32, Redis down
    wait_until(lambda: node.sent() == len(events) - 20, "the node's hub took every event")
    wait_until(lambda: node.bus.writer.down, "the writer saw the outage")
    redis_server.start()  # empty again (no persistence)
    wait_until(lambda: not node.bus.writer.down and node.flushed(), "the writer recovered")
    node.publish(events[-20:])
    wait_until(node.flushed, "the last entries written")


def test_a_call_id_reused_on_another_node_is_served_as_a_new_call(redis_server):
    bus = BusConfig(redis_server.url)
    first, second = call_events("c1", 5), call_events("c1", 8)
    with Node(bus) as a:
        a.publish(first)
        wait_until(a.flushed, "node a's call written")
    with Node(bus) as b:
        b.publish(second[:6])
        wait_until(b.flushed, "the start of node b's call written")
        gateway = Gateway(ServerConfig(port=0), bus)  # reads both calls from one stream
        gateway.start()
        try:

            async def main() -> list[dict]:
                client = asyncio.create_task(collect(gateway.url, len(second), {"c1": 0}))
                await asyncio.sleep(0.3)
                b.publish(second[6:])
                return await client

            got = asyncio.run(main())
        finally:
            gateway.stop()
    # resumed from 0: what the gateway holds of the call now, node b's, from its seq 1
    assert [m["seq"] for m in got] == list(range(1, len(second) + 1))
    assert [m["type"] for m in got] == [e["type"] for e in second]


def test_a_gateway_asks_for_the_token_like_a_node(redis_server):
    token = "t0k-0123456789abcdef"
    gateway = Gateway(ServerConfig(port=0, token=token), BusConfig(redis_server.url))
    gateway.start()
    try:

        async def main() -> dict:
            with pytest.raises(InvalidStatus, match="401"):
                async with connect(gateway.url):
                    pass
            headers = {"Authorization": f"Bearer {token}"}
            async with connect(gateway.url, additional_headers=headers) as ws:
                return json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))  # type: ignore[no-any-return]

        assert asyncio.run(main())["type"] == "hello"
    finally:
        gateway.stop()
