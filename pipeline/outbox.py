"""The pipeline's events on their way out: in order, handed over outside its lock.

:class:`Outbox` is told events while the owner (the pipeline) holds its lock, and
:meth:`Outbox.deliver` hands them to the sink after the lock is released, from one
thread at a time: whichever producer or ASR worker comes first delivers the events
the others queued too, and they return at once.  A slow sink so never holds up the
producer's bookkeeping or the ASR workers (it should still not block for long).
A sink that raises is logged and the next event still goes out.  The queue holds
only the events of the steps since the last delivery (every pipeline step ends
with one): it needs no drop policy.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from records.events import Event

log = logging.getLogger(__name__)

EventSink = Callable[[Event], None]


class Outbox:
    def __init__(self, sink: EventSink) -> None:
        self.sink = sink
        self._queue: deque[Event] = deque()  # in order; drained by deliver()
        self._delivering = threading.Lock()  # one thread hands events to the sink

    def put(self, event: Event) -> None:
        self._queue.append(event)

    def __len__(self) -> int:
        return len(self._queue)

    def deliver(self) -> None:
        """Hand the queued events to the sink, in order (unless another thread is at it)."""
        while self._queue:
            if not self._delivering.acquire(blocking=False):
                return  # another thread is delivering; it will take ours too
            try:
                while self._queue:
                    event = self._queue.popleft()
                    try:
                        self.sink(event)
                    except Exception:
                        log.exception("event sink failed on %s", event.type)
            finally:
                self._delivering.release()
