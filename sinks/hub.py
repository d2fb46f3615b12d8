"""Fan-out of call events to subscribers: sequence numbers, replay, bounded queues.

Sans-I/O and single-threaded: the websocket server calls :meth:`Hub.publish`
and :meth:`Hub.subscribe` from its event loop and moves what the hub queued
onto the wire.  Each published event gets the next per-call ``seq`` (1, 2, ...)
and is serialised once; every matching subscriber gets the same bytes.

Bounded everywhere, each overflow with a named policy:

* per call, the last ``replay_events`` events are kept for resuming clients
  (``drop_oldest``); a client whose resume point is older gets a ``resync``
  event carrying the call's finals so far (``finals_kept`` at most);
* at most ``replay_calls`` ended calls are remembered (``evict_oldest_ended``);
  a ``call.started`` for an id whose call has ended begins a new call log
  (its ``seq`` carries on from the old call's last);
* each subscriber's queue holds ``queue_events``; when full, a droppable event
  (a partial or a stats tick) is dropped, oldest droppable first
  (``drop_partials_first``); when none can be dropped the subscriber is marked
  ``overflowed`` and the server closes it with :data:`CLOSE_SLOW_CONSUMER`.
  Finals are never dropped silently.
"""

from __future__ import annotations

import json
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

CLOSE_SLOW_CONSUMER = 4008  # websocket close code: the subscriber's queue overflowed
DROPPABLE = frozenset({"transcript.partial", "call.stats"})


@dataclass(frozen=True, slots=True)
class HubConfig:
    queue_events: int = 1024  # per subscriber
    replay_events: int = 4096  # per call
    replay_calls: int = 64  # ended calls kept for resume
    finals_kept: int = 4096  # per call, for resync

    def __post_init__(self) -> None:
        for name in ("queue_events", "replay_events", "replay_calls", "finals_kept"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One serialised message, shared by every subscriber that gets it."""

    call_id: str | None
    seq: int  # 0 for messages that are not call events
    type: str
    party: str | None
    text: str

    @property
    def droppable(self) -> bool:
        return self.type in DROPPABLE


@dataclass(frozen=True, slots=True)
class Filter:
    """Which events a subscriber wants: ``None`` means all calls / all parties."""

    calls: frozenset[str] | None = None
    parties: frozenset[str] | None = None

    def matches(self, call_id: str | None, party: str | None) -> bool:
        if call_id is not None and self.calls is not None and call_id not in self.calls:
            return False
        return party is None or self.parties is None or party in self.parties


@dataclass(slots=True)
class Subscriber:
    id: int
    capacity: int
    filter: Filter | None = None  # None: not subscribed yet
    queue: deque[Outgoing] = field(default_factory=deque)
    dropped: int = 0  # droppable events dropped under pressure
    overflowed: bool = False

    def offer(self, msg: Outgoing) -> bool:
        """Queue ``msg``; False (and ``overflowed``) when a must-deliver event cannot fit."""
        if self.overflowed:
            return False
        if len(self.queue) < self.capacity:
            self.queue.append(msg)
            return True
        if msg.droppable:
            self.dropped += 1
            return True
        for i, old in enumerate(self.queue):
            if old.droppable:
                del self.queue[i]
                self.dropped += 1
                self.queue.append(msg)
                return True
        self.overflowed = True
        return False


@dataclass(slots=True)
class _CallLog:
    seq: int = 0
    ended: bool = False
    events: deque[Outgoing] = field(default_factory=deque)
    finals: deque[dict[str, Any]] = field(default_factory=deque)


@dataclass(slots=True)
class HubStats:
    published: int = 0
    delivered: int = 0
    dropped: int = 0  # droppable events dropped for slow subscribers
    overflowed: int = 0  # subscribers disconnected as too slow
    resyncs: int = 0


class Hub:
    def __init__(self, config: HubConfig | None = None) -> None:
        self.config = config or HubConfig()
        self.stats = HubStats()
        self.subscribers: dict[int, Subscriber] = {}
        self._calls: OrderedDict[str, _CallLog] = OrderedDict()
        self._next_id = 1

    # -- subscribers -----------------------------------------------------
    def connect(self) -> Subscriber:
        sub = Subscriber(self._next_id, self.config.queue_events)
        self._next_id += 1
        self.subscribers[sub.id] = sub
        return sub

    def disconnect(self, sub: Subscriber) -> None:
        self.subscribers.pop(sub.id, None)
        self.stats.dropped += sub.dropped
        sub.dropped = 0

    def subscribe(
        self,
        sub: Subscriber,
        flt: Filter,
        resume: dict[str, int] | None = None,
        replay: bool = False,
    ) -> None:
        """Start (or change) a subscription, first queueing what the client missed.

        ``resume`` maps call ids to the last ``seq`` the client saw; ``replay``
        asks for everything still held of every matching call.  Backlog goes
        ahead of live events and is not subject to the drop policy.
        """
        sub.filter = flt
        wanted = dict(resume or {})
        if replay:
            for call_id in self._calls:
                if flt.matches(call_id, None):
                    wanted.setdefault(call_id, 0)
        for call_id, last in wanted.items():
            sub.queue.extend(self._backlog(call_id, last, flt))

    def _backlog(self, call_id: str, last: int, flt: Filter) -> Iterable[Outgoing]:
        log = self._calls.get(call_id)
        if log is None:
            self.stats.resyncs += 1
            return [self._resync(call_id, None, last, "call not known (ended long ago?)")]
        if last >= log.seq:
            return []
        oldest = log.events[0].seq if log.events else log.seq + 1
        if last + 1 < oldest:
            self.stats.resyncs += 1
            reason = f"events {last + 1}..{oldest - 1} are no longer held"
            return [self._resync(call_id, log, last, reason)]
        return [m for m in log.events if m.seq > last and flt.matches(call_id, m.party)]

    def _resync(self, call_id: str, log: _CallLog | None, last: int, reason: str) -> Outgoing:
        seq = log.seq if log else 0
        body = {
            "type": "resync",
            "call_id": call_id,
            "seq": seq,
            "after_seq": last,
            "reason": reason,
            "ended": log.ended if log else None,
            "finals": list(log.finals) if log else [],
        }
        return Outgoing(call_id, seq, "resync", None, json.dumps(body))

    # -- publishing ------------------------------------------------------
    def publish(self, event: dict[str, Any]) -> list[Subscriber]:
        """Stamp ``event`` (a dict with ``type`` and ``call_id``) and queue it.

        Returns the subscribers that overflowed on it: the caller closes them.
        """
        call_id = str(event["call_id"])
        log = self._calls.get(call_id)
        if log is not None and log.ended and event["type"] == "call.started":
            # the id came again: a new call, whose seq carries on from the old one's
            # so that a client resuming from the old call's last seq misses nothing
            del self._calls[call_id]
            log = self._calls[call_id] = _CallLog(seq=log.seq)
        elif log is None:
            log = self._calls[call_id] = _CallLog()
            self._forget_old_calls()
        log.seq += 1
        body = {**event, "seq": log.seq}
        msg = Outgoing(call_id, log.seq, str(event["type"]), event.get("party"), json.dumps(body))
        log.events.append(msg)
        if len(log.events) > self.config.replay_events:
            log.events.popleft()
        if msg.type == "transcript.final":
            log.finals.append(body)
            if len(log.finals) > self.config.finals_kept:
                log.finals.popleft()
        elif msg.type == "call.ended":
            log.ended = True
        self.stats.published += 1
        overflowed = []
        for sub in self.subscribers.values():
            if sub.filter is None or not sub.filter.matches(call_id, msg.party):
                continue
            if sub.offer(msg):
                self.stats.delivered += 1
            elif sub.overflowed:
                overflowed.append(sub)
        self.stats.overflowed += len(overflowed)
        return overflowed

    def _forget_old_calls(self) -> None:
        excess = len(self._calls) - self.config.replay_calls
        for call_id in [c for c, log in self._calls.items() if log.ended][: max(0, excess)]:
            del self._calls[call_id]

    def last_seq(self, call_id: str) -> int:
        log = self._calls.get(call_id)
        return log.seq if log else 0

    def active_calls(self) -> list[str]:
        return [c for c, log in self._calls.items() if not log.ended]
