"""A hub's subscriber side: the shared serialised message, a subscriber's bounded queue.

Sans-I/O.  :class:`Outgoing` is one stamped message (its UTF-8 JSON text made
once, shared by every subscriber that gets it); :class:`Subscriber` is one
client's bounded queue with its overflow policy (``drop_partials_first``, then
``disconnect_slow_subscriber``: :data:`CLOSE_SLOW_CONSUMER`); a subscribe
request's backlog is bounded by :func:`replay_allowance`.  :mod:`sinks.hub`
stamps and fans out; the server moves the queues onto the wire.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .filters import Filter

CLOSE_SLOW_CONSUMER = 4008  # websocket close code: the subscriber's queue overflowed
DROPPABLE = frozenset({"transcript.partial", "call.stats"})


def dumps(body: dict[str, Any]) -> str:
    """A message the server makes itself (replies, dict events) as strict JSON text."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One serialised message, shared by every subscriber that gets it."""

    call_id: str | None
    seq: int  # 0 for messages that are not call events
    type: str
    party: str | None
    data: bytes  # UTF-8 JSON text, sent as a text frame
    origin: str = ""  # from a bus: the node (process) that stamped it
    size: int = field(init=False)  # bytes, len(data)
    droppable: bool = field(init=False)  # a partial or a stats tick

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", len(self.data))
        object.__setattr__(self, "droppable", self.type in DROPPABLE)

    @classmethod
    def reply(cls, body: dict[str, Any]) -> Outgoing:
        return cls(None, 0, str(body["type"]), None, dumps(body).encode())

    @property
    def text(self) -> str:
        return self.data.decode()


def _nothing_unsent() -> int:
    return 0


@dataclass(slots=True)
class Subscriber:
    id: int
    capacity: int  # messages
    capacity_bytes: int
    filter: Filter | None = None  # None: not subscribed yet
    queue: deque[Outgoing] = field(default_factory=deque)
    queued_bytes: int = 0
    # bytes already handed to the socket but not yet sent (the server sets it)
    unsent: Callable[[], int] = _nothing_unsent
    dropped: int = 0  # droppable events dropped under pressure
    overflowed: bool = False
    bad_messages: int = 0  # client messages refused (the server counts them)
    format: str = "listenin"  # or "deepgram": rendered at write time (sinks.deepgram)

    @property
    def pending_bytes(self) -> int:
        return self.queued_bytes + self.unsent()

    def _fits(self, msg: Outgoing) -> bool:
        if len(self.queue) >= self.capacity:
            return False
        return self.queued_bytes + msg.size + self.unsent() <= self.capacity_bytes

    def offer(self, msg: Outgoing) -> bool:
        """Queue ``msg``; False (and ``overflowed``) when a must-deliver message cannot fit."""
        if self.overflowed:
            return False
        if not self._fits(msg):
            if msg.droppable:
                self.dropped += 1
                return True
            while not self._fits(msg) and self._drop_oldest_droppable():
                pass
            if not self._fits(msg):
                self.overflowed = True
                return False
        self._append(msg)
        return True

    def offer_backlog(self, msg: Outgoing) -> bool:
        """Queue a replayed message in the room left, dropping nothing; False: overflowed."""
        if self.overflowed or not self._fits(msg):
            self.overflowed = True
            return False
        self._append(msg)
        return True

    def _append(self, msg: Outgoing) -> None:
        self.queue.append(msg)
        self.queued_bytes += msg.size

    def _drop_oldest_droppable(self) -> bool:
        for i, old in enumerate(self.queue):
            if old.droppable:
                del self.queue[i]
                self.queued_bytes -= old.size
                self.dropped += 1
                return True
        return False

    def take(self) -> Outgoing | None:
        """The next message for the socket (the writer's side), None when empty."""
        if not self.queue:
            return None
        msg = self.queue.popleft()
        self.queued_bytes -= msg.size
        return msg


@dataclass(frozen=True, slots=True)
class Allowance:
    """What one subscribe request may queue as backlog."""

    events: int
    bytes: int


def replay_allowance(sub: Subscriber) -> Allowance:
    """Half the subscriber's queue: a fresh client can always take its backlog."""
    return Allowance(max(1, sub.capacity // 2), sub.capacity_bytes // 2)
