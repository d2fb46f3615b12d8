"""The bus writer: a bounded queue in front of one thread that XADDs, pipelined.

:meth:`BusWriter.offer` never blocks and never does I/O: it appends an
:class:`~sinks.bus_layout.Entry` to a queue of at most ``capacity`` entries and
returns.  When the queue is full the policy is ``drop_droppable_then_oldest``:
the oldest droppable entry (a partial or a stats tick) goes first; when there
is none, the oldest entry; every drop is counted (:attr:`WriterStats.dropped`).
The writer thread takes up to :data:`BATCH` entries at a time and sends them in
one pipeline (one round trip).  When Redis is down the batch is kept and tried
again with a growing backoff (:data:`BACKOFF_S` up to :data:`MAX_BACKOFF_S`),
logged once per outage; meanwhile the queue fills and drops by its policy.  A
batch that may have been applied in part is sent again whole: the bus is
at-least-once, and readers skip what they already have by ``seq``.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from .bus_layout import BusConfig, Entry

log = logging.getLogger(__name__)

BATCH = 256  # entries per pipeline
BACKOFF_S = 0.1
MAX_BACKOFF_S = 5.0


def connector(config: BusConfig) -> Callable[[], Any]:
    """Makes a Redis client for ``config.url`` (bytes in replies; short socket timeouts)."""

    def connect() -> Any:
        return redis.Redis.from_url(
            config.url, socket_connect_timeout=2.0, socket_timeout=5.0, health_check_interval=0
        )

    return connect


@dataclass(slots=True)
class WriterStats:
    offered: int = 0
    written: int = 0  # entries XADDed (a batch sent again counts again)
    dropped: int = 0  # entries dropped because the queue was full (or left at close)
    outages: int = 0  # times Redis went from reachable to not
    batches: int = 0


class BusWriter:
    def __init__(
        self, connect: Callable[[], Any], capacity: int, where: str, name: str = "bus-writer"
    ) -> None:
        self._connect = connect  # makes a redis.Redis client (called on the writer thread)
        self.capacity = capacity
        self.where = where  # the bus, for log lines
        self.stats = WriterStats()
        self.down = False
        self._queue: deque[Entry] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def offer(self, entry: Entry) -> None:
        """Queue ``entry`` for the writer; never blocks (a full queue drops by its policy)."""
        with self._cond:
            self.stats.offered += 1
            if len(self._queue) >= self.capacity:
                self._drop_one(entry)
                if entry.droppable and len(self._queue) >= self.capacity:
                    return  # the new entry was the one dropped
            self._queue.append(entry)
            self._cond.notify()

    def _drop_one(self, new: Entry) -> None:
        self.stats.dropped += 1
        for i, old in enumerate(self._queue):
            if old.droppable:
                del self._queue[i]
                return
        if not new.droppable:
            self._queue.popleft()

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (for at most ``timeout_s``), then stop; the rest is dropped."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        with self._cond:
            self.stats.dropped += len(self._queue)
            self._queue.clear()

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    # -- the writer thread ----------------------------------------------------
    def _run(self) -> None:
        client = None
        backoff = BACKOFF_S
        batch: list[Entry] = []
        while True:
            with self._cond:
                while not batch and not self._queue and not self._closing:
                    self._cond.wait()
                while self._queue and len(batch) < BATCH:
                    batch.append(self._queue.popleft())
                if not batch and self._closing:
                    return
            try:
                client = client or self._connect()
                self._send(client, batch)
            except Exception as err:  # redis errors, OSError: Redis unreachable or failing
                client = None
                if not self.down:
                    self.down = True
                    self.stats.outages += 1
                    log.warning("bus %s unreachable (%s): retrying, events queue and then drop "
                                "(partials and stats first)", self.where, err)  # fmt: skip
                with self._cond:
                    if self._closing:
                        self.stats.dropped += len(batch)
                        return
                    self._cond.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            if self.down:
                self.down = False
                log.warning("bus %s reachable again (%d entries dropped so far)",
                            self.where, self.stats.dropped)  # fmt: skip
            self.stats.written += len(batch)
            self.stats.batches += 1
            batch = []
            backoff = BACKOFF_S

    @staticmethod
    def _send(client: Any, batch: list[Entry]) -> None:
        pipe = client.pipeline(transaction=False)
        for e in batch:
            pipe.xadd(e.key, e.fields, maxlen=e.maxlen, approximate=True)
            if e.ttl_s:
                pipe.expire(e.key, e.ttl_s)
            elif e.ttl_s == 0:
                pipe.persist(e.key)
        pipe.execute()
