"""Threads that read the bus: a gateway's call streams, a node's control stream.

Each reader is one thread with its own Redis client that loops on
``XREAD BLOCK`` (at most :data:`BLOCK_MS` per call, so that :meth:`stop` is
prompt) and hands what it read to a callback; the callback must not block (the
gateway's queues the message onto the server's event loop).  A Redis that is
down or restarted is retried with a growing backoff, logged once per outage;
reading carries on after the last entry id read, so nothing still in a stream
is missed.

* :class:`CallReader` (a gateway): at start reads the index and, whole
  (``XRANGE``), the streams of the calls still going and of the newest ended
  ones (:func:`~sinks.bus_cursor.plan_load`), then sets :attr:`CallReader.loaded`
  and follows the index and the active calls' streams (:class:`~sinks.bus_cursor.Cursor`).
* :class:`ControlReader` (a node): follows the control stream from its end as
  it was at start, and passes each request on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .bus_cursor import START, Cursor, plan_load
from .bus_layout import IndexEntry, call_key, decode_control_entry, decode_index_entry
from .hub import Outgoing
from .protocol import RecordingControl

log = logging.getLogger(__name__)

BLOCK_MS = 500
PAGE = 1000  # entries per XRANGE / XREAD reply
BACKOFF_S = 0.1
MAX_BACKOFF_S = 5.0


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class _Reader:
    def __init__(self, connect: Callable[[], Any], where: str, name: str) -> None:
        self._connect = connect
        self.where = where
        self.down = False
        self.outages = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        client = None
        backoff = BACKOFF_S
        while not self._stop.is_set():
            try:
                client = client or self._connect()
                self._step(client)
            except Exception as err:  # redis errors, OSError: Redis unreachable or failing
                client = None
                if not self.down:
                    self.down = True
                    self.outages += 1
                    log.warning("bus %s unreachable (%s): retrying", self.where, err)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            if self.down:
                self.down = False
                log.warning("bus %s reachable again", self.where)
            backoff = BACKOFF_S

    def _step(self, client: Any) -> None:
        raise NotImplementedError


class CallReader(_Reader):
    def __init__(
        self, connect: Callable[[], Any], cursor: Cursor, deliver: Callable[[Outgoing], None],
        where: str,
    ) -> None:  # fmt: skip
        super().__init__(connect, where, "bus-calls")
        self.cursor = cursor
        self.deliver = deliver
        self.loaded = threading.Event()  # the index and the held calls are read

    def _step(self, client: Any) -> None:
        if not self.loaded.is_set():
            self._load(client)
            self.loaded.set()
        reply = client.xread(self.cursor.streams(), count=PAGE, block=BLOCK_MS) or []
        index = []
        for key, entries in reply:  # call streams first: an index "ended" reads after them
            if _text(key) == self.cursor.index_key:
                index = entries
                continue
            for entry_id, fields in entries:
                msg = self.cursor.on_call_entry(_text(key), _text(entry_id), fields)
                if msg is not None:
                    self.deliver(msg)
        for entry_id, fields in index:
            ended = self.cursor.on_index(_text(entry_id), fields)
            if ended is not None:
                self._read_rest(client, ended)
                self.cursor.stop_following(ended)

    def _load(self, client: Any) -> None:
        entries: list[IndexEntry] = []
        for entry_id, fields in self._range(client, self.cursor.index_key, START):
            self.cursor.index_id = entry_id
            try:
                entries.append(decode_index_entry(fields))
            except ValueError:
                self.cursor.malformed += 1
        active, ended = plan_load(entries, self.cursor.max_ended)
        for call_id in ended + active:
            self.cursor.follow(call_id)
            self._read_rest(client, call_id)
        for call_id in ended:
            self.cursor.stop_following(call_id)
        log.info("bus %s: %d calls going, %d ended calls read", self.where, len(active),
                 len(ended))  # fmt: skip

    def _read_rest(self, client: Any, call_id: str) -> None:
        key = call_key(self.cursor.prefix, call_id)
        for entry_id, fields in self._range(client, key, self.cursor.last_id(call_id)):
            msg = self.cursor.on_call_entry(key, entry_id, fields)
            if msg is not None:
                self.deliver(msg)

    @staticmethod
    def _range(client: Any, key: str, after: str) -> Any:
        """Every entry of ``key`` after ``after``, page by page (XRANGE)."""
        while True:
            low = "-" if after == START else f"({after}"
            page = client.xrange(key, min=low, max="+", count=PAGE)
            for entry_id, fields in page:
                after = _text(entry_id)
                yield after, fields
            if len(page) < PAGE:
                return


class ControlReader(_Reader):
    def __init__(
        self, connect: Callable[[], Any], key: str, on_request: Callable[[RecordingControl], None],
        where: str,
    ) -> None:  # fmt: skip
        super().__init__(connect, where, "bus-control")
        self.key = key
        self.on_request = on_request
        self.last_id: str | None = None  # None: not started (read from the end at start)
        self.malformed = 0

    def _step(self, client: Any) -> None:
        if self.last_id is None:
            newest = client.xrevrange(self.key, count=1)
            self.last_id = _text(newest[0][0]) if newest else START
        reply = client.xread({self.key: self.last_id}, count=PAGE, block=BLOCK_MS) or []
        for _key, entries in reply:
            for entry_id, fields in entries:
                self.last_id = _text(entry_id)
                try:
                    req = decode_control_entry(fields)
                except ValueError as err:
                    self.malformed += 1
                    log.warning("bus control entry %s skipped: %s", self.last_id, err)
                    continue
                try:
                    self.on_request(req)
                except Exception:  # the node's fault, not the bus's: log it and go on
                    log.exception("call %s: bus request %s failed", req.call_id, self.last_id)
