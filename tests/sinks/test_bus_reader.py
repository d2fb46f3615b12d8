"""The bus readers on a real Redis: a node's control stream from its end, bad entries skipped."""

from __future__ import annotations

import queue

from sinks.bus_layout import BusConfig, control_entry
from sinks.bus_reader import ControlReader
from sinks.bus_writer import connector
from sinks.protocol import RecordingControl
from tests.waiting import wait_until


def test_a_node_takes_the_requests_made_after_it_started_and_skips_bad_ones(redis_server):
    bus = BusConfig(redis_server.url)
    r = redis_server.client()

    def add(req: RecordingControl) -> None:
        entry = control_entry(req, bus)
        r.xadd(entry.key, entry.fields)

    add(RecordingControl("before", True))  # made before the node started: not for it
    got: queue.Queue[RecordingControl] = queue.Queue()

    def on_request(req: RecordingControl) -> None:
        got.put(req)
        if req.call_id == "boom":
            raise RuntimeError("the node failed to apply it")

    reader = ControlReader(connector(bus), "listenin:control", on_request, bus.where)
    reader.start()
    try:
        # until it has looked up where the stream ends
        wait_until(lambda: reader.last_id is not None, "the reader reaching Redis", 30)
        r.xadd("listenin:control", {"call_id": "c1", "action": "explode"})
        add(RecordingControl("boom", True))
        add(RecordingControl("c1", False))
        assert got.get(timeout=30) == RecordingControl("boom", True)
        assert got.get(timeout=30) == RecordingControl("c1", False)
    finally:
        reader.stop()
    assert reader.malformed == 1 and reader.outages == 0 and got.empty()
