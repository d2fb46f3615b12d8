"""A gateway: the websocket API and web console, fed from the bus instead of a pipeline.

:class:`Gateway` is an :class:`~sinks.server.EventServer` whose hub takes the
messages nodes stamped (:meth:`~sinks.hub.Hub.deliver`, the node's ``seq`` and
bytes as they are), read from Redis by a :class:`~sinks.bus_reader.CallReader`.
It starts serving once the index and the calls it holds are read (or after
``load_timeout_s`` when Redis is down; what it read so far goes first), so a
client resuming after a gateway restart finds what it missed.  A client's
recording pause/resume becomes an entry on the control stream (through a
:class:`~sinks.bus_writer.BusWriter`);
the node that holds the call applies it, and its ``recording.paused`` event
comes back on the bus like any other.  Any number of gateways may follow one
bus: each hub holds the same messages with the same ``seq``.
"""

from __future__ import annotations

import logging
import threading

from .bus_cursor import Cursor
from .bus_layout import BusConfig, control_entry
from .bus_reader import CallReader
from .bus_writer import BusWriter, connector
from .hub import Outgoing
from .protocol import RecordingControl
from .server import EventServer
from .server_config import ServerConfig

log = logging.getLogger(__name__)

CONTROL_QUEUE = 256  # recording requests waiting for the bus


class Gateway:
    def __init__(self, server: ServerConfig, bus: BusConfig, load_timeout_s: float = 10.0) -> None:
        self.bus = bus
        self.load_timeout_s = load_timeout_s
        self.server = EventServer(server, on_control=self._control)
        connect = connector(bus)
        cursor = Cursor(bus.stream_prefix, server.hub.replay_calls)
        self.reader = CallReader(connect, cursor, self._deliver, bus.where)
        self._lock = threading.Lock()
        self._pending: list[Outgoing] | None = []  # read before the server started
        self.requests = BusWriter(connect, CONTROL_QUEUE, bus.where, name="bus-control-writer")

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> None:
        """Serve the websocket API once the bus is read (or ``load_timeout_s`` has passed)."""
        self.requests.start()
        self.reader.start()
        if not self.reader.loaded.wait(self.load_timeout_s):
            log.warning("bus %s not read within %g s: serving what comes", self.bus.where,
                        self.load_timeout_s)  # fmt: skip
        self.server.start()
        with self._lock:  # the reader waits: what it read first goes first
            for msg in self._pending or ():
                self.server.deliver(msg)
            self._pending = None

    def stop(self) -> None:
        self.reader.stop()
        self.server.stop()
        self.requests.close(1.0)

    def _deliver(self, msg: Outgoing) -> None:
        with self._lock:
            if self._pending is not None:
                self._pending.append(msg)
                return
        self.server.deliver(msg)

    def _control(self, req: RecordingControl) -> None:
        """Pass a client's pause/resume on to the node that holds the call (via the bus)."""
        self.requests.offer(control_entry(req, self.bus))
        log.info("call %s: recording %s requested", req.call_id, "pause" if req.pause else "resume")
