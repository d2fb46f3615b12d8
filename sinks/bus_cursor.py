"""Where a gateway is in the bus: which call streams it follows, and from which entry.

Sans-I/O: the reader thread (:mod:`sinks.bus_reader`) asks :meth:`Cursor.streams`
what to XREAD next and tells the cursor what came back; the cursor turns call
entries into messages for the hub and keeps each stream's last entry id, so a
reconnect carries on where it stopped.  A call is followed from its index
entry ``started`` or its ``call.started`` entry (from the stream's start, or
from where a reused call id stopped) until its ``call.ended`` entry; an index
``ended`` asks the reader to read the rest of the call once
(:meth:`Cursor.on_index` returns the call) and stop following it, so a
``call.ended`` dropped on the way never leaves a call followed for ever.  Ids
of ended calls are kept for ``max_ended`` calls (``evict_oldest_ended``).

At start, :func:`plan_load` picks from the whole index the calls still going
and the newest ``max_ended`` that ended: the gateway reads those streams whole.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from .bus_layout import Fields, IndexEntry, call_key, call_of, decode_call_entry, decode_index_entry
from .bus_layout import index_key as make_index_key
from .hub import Outgoing

log = logging.getLogger(__name__)

START = "0-0"


def plan_load(index: list[IndexEntry], max_ended: int) -> tuple[list[str], list[str]]:
    """``(active, ended)`` call ids from the index, oldest first; at most ``max_ended`` ended."""
    state: OrderedDict[str, bool] = OrderedDict()  # call id -> ended
    for entry in index:
        if entry.event == "started":
            state.pop(entry.call_id, None)
            state[entry.call_id] = False
        elif entry.call_id in state:
            state[entry.call_id] = True
    active = [c for c, ended in state.items() if not ended]
    ended = [c for c, ended in state.items() if ended]
    return active, ended[len(ended) - max_ended :] if max_ended else []


class Cursor:
    def __init__(self, prefix: str, max_ended: int = 64) -> None:
        self.prefix = prefix
        self.index_key = make_index_key(prefix)
        self.index_id = START
        self.max_ended = max_ended
        self.active: dict[str, str] = {}  # call id -> last entry id read
        self._ended: OrderedDict[str, str] = OrderedDict()  # call id -> last entry id read
        self.malformed = 0  # entries skipped as malformed (counted, logged once)

    def streams(self) -> dict[str, str]:
        """The streams to XREAD next, each with the last entry id read."""
        out = {self.index_key: self.index_id}
        out.update({call_key(self.prefix, c): last for c, last in self.active.items()})
        return out

    def last_id(self, call_id: str) -> str:
        return self.active.get(call_id) or self._ended.get(call_id) or START

    def follow(self, call_id: str) -> None:
        if call_id not in self.active:
            self.active[call_id] = self._ended.pop(call_id, START)

    def stop_following(self, call_id: str) -> None:
        last = self.active.pop(call_id, None)
        if last is not None:
            self._ended[call_id] = last
            while len(self._ended) > self.max_ended:
                self._ended.popitem(last=False)

    def on_index(self, entry_id: str, fields: Fields) -> str | None:
        """An index entry read; returns a call id whose rest must be read once (it ended)."""
        self.index_id = entry_id
        try:
            entry = decode_index_entry(fields)
        except ValueError as err:
            self._malformed(self.index_key, entry_id, err)
            return None
        if entry.event == "started":
            self.follow(entry.call_id)
            return None
        return entry.call_id if entry.call_id in self.active else None

    def on_call_entry(self, key: str, entry_id: str, fields: Fields) -> Outgoing | None:
        """A call stream's entry read: the message for the hub (None if malformed)."""
        call_id = call_of(self.prefix, key)
        if call_id is None:
            return None
        if call_id in self.active:
            self.active[call_id] = entry_id
        elif call_id in self._ended:
            self._ended[call_id] = entry_id
        try:
            msg = decode_call_entry(call_id, fields)
        except ValueError as err:
            self._malformed(key, entry_id, err)
            return None
        if msg.type == "call.started":
            self.follow(call_id)  # the id reused: its stream goes on after the old call.ended
        elif msg.type == "call.ended":
            self.stop_following(call_id)
        return msg

    def _malformed(self, key: str, entry_id: str, err: ValueError) -> None:
        level = logging.WARNING if self.malformed == 0 else logging.DEBUG
        self.malformed += 1
        log.log(level, "bus entry %s %s skipped: %s", key, entry_id, err)
