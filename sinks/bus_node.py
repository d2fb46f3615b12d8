"""A node's side of the bus: publish every stamped event, apply recording requests.

:class:`NodeBus` is told each message the node's hub stamps
(:meth:`NodeBus.on_stamped`, the hub's ``on_stamped`` hook, on the server's
event loop): it turns it into stream entries (:func:`~sinks.bus_layout.entries_for`)
and offers them to the :class:`~sinks.bus_writer.BusWriter` queue, so the bus
carries the hub's ``seq`` and JSON bytes as they are, and the event loop never
waits on Redis.  A :class:`~sinks.bus_reader.ControlReader` follows the
control stream and hands each request to ``on_request`` (the node applies the
ones for calls it holds).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from .bus_layout import BusConfig, control_key, entries_for
from .bus_reader import ControlReader
from .bus_writer import BusWriter, connector
from .hub import Outgoing
from .protocol import RecordingControl


class NodeBus:
    def __init__(
        self, config: BusConfig, on_request: Callable[[RecordingControl], None] | None = None
    ) -> None:
        self.config = config
        self.node = uuid.uuid4().hex[:12]  # this process, on every entry: a reused call id
        connect = connector(config)
        self.writer = BusWriter(connect, config.queue_entries, config.where)
        self.control = (
            ControlReader(connect, control_key(config.stream_prefix), on_request, config.where)
            if on_request is not None
            else None
        )

    def start(self) -> None:
        self.writer.start()
        if self.control is not None:
            self.control.start()

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop reading requests; send what is queued (for at most ``timeout_s``)."""
        if self.control is not None:
            self.control.stop()
        self.writer.close(timeout_s)

    def on_stamped(self, msg: Outgoing) -> None:
        for entry in entries_for(msg, self.config, self.node):
            self.writer.offer(entry)
