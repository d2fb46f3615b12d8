"""Fan-out of call events to subscribers: sequence numbers, replay, bounded queues.

Sans-I/O and single-threaded: the websocket server calls :meth:`Hub.publish`
and :meth:`Hub.subscribe` from its event loop and moves what the hub queued
onto the wire.  Each published event gets the next per-call ``seq`` (1, 2, ...)
spliced into the event's one JSON text (:meth:`records.events.Serialisable.to_json`),
encoded to UTF-8 once; every matching subscriber gets the same bytes (and a
node's bus publisher, :attr:`Hub.on_stamped`).  A gateway's hub takes messages
a node stamped, from the bus, as they are (:meth:`Hub.deliver`).

Bounded everywhere, each overflow with a named policy:

* per call, the last ``replay_events`` events are kept for resuming clients
  (``drop_oldest``); a client whose resume point is older gets a ``resync``
  event carrying the call's finals and alerts so far (``finals_kept`` at most);
* at most ``replay_calls`` ended calls are remembered (``evict_oldest_ended``);
  a ``call.started`` for an id whose call has ended begins a new call log
  (its ``seq`` carries on from the old call's last);
* each subscriber's queue holds ``queue_events`` messages and ``queue_bytes``
  bytes, counting what its socket has not yet sent (:attr:`Subscriber.unsent`);
  when full, a droppable event (a partial or a stats tick) is dropped, oldest
  droppable first (``drop_partials_first``); when none can be dropped the
  subscriber is marked ``overflowed`` and the server closes it with
  :data:`CLOSE_SLOW_CONSUMER` (``disconnect_slow_subscriber``).  Finals are
  never dropped silently;
* one subscribe request's backlog (resume / replay) is at most half the queue
  (events and bytes, :func:`replay_allowance`); a call whose missed events do
  not fit gets a ``resync`` instead (``resync_past_allowance``).  The backlog
  takes the room left in the queue and nothing is dropped for it or of it, so
  a client that asks again before reading what it asked for fills its queue
  and is closed with 4008.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from records.events import Event

from .events import RecordingEvent
from .filters import Filter, any_wants_partials
from .subscriber import CLOSE_SLOW_CONSUMER as CLOSE_SLOW_CONSUMER
from .subscriber import DROPPABLE as DROPPABLE
from .subscriber import Allowance, Outgoing, Subscriber, dumps, replay_allowance

RESYNC_KEPT = frozenset({"transcript.final", "alert"})  # what a resync carries

Publishable = Event | RecordingEvent | dict[str, Any]  # a dict: has "type" and "call_id"


@dataclass(frozen=True, slots=True)
class HubConfig:
    queue_events: int = 1024  # messages per subscriber
    queue_bytes: int = 1 << 20  # per subscriber, queued plus unsent in its socket's buffer
    replay_events: int = 4096  # per call
    replay_calls: int = 64  # ended calls kept for resume
    finals_kept: int = 4096  # per call, finals and alerts kept for resync

    def __post_init__(self) -> None:
        for name in ("queue_events", "replay_events", "replay_calls", "finals_kept"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.queue_bytes < 16 * 1024:
            raise ValueError(f"queue_bytes must be >= 16384, got {self.queue_bytes}")


@dataclass(slots=True)
class _CallLog:
    seq: int = 0
    ended: bool = False
    origin: str = ""  # the node that stamps it (a gateway's hub)
    events: deque[Outgoing] = field(default_factory=deque)
    # the finals' and alerts' JSON (with their seq), in order, for resync
    finals: deque[tuple[str, bytes]] = field(default_factory=deque)


@dataclass(slots=True)
class HubStats:
    published: int = 0
    delivered: int = 0
    dropped: int = 0  # droppable events dropped for slow subscribers
    overflowed: int = 0  # subscribers disconnected as too slow (counted at disconnect)
    resyncs: int = 0
    duplicates: int = 0  # stamped messages delivered twice (skipped)


class Hub:
    def __init__(
        self, config: HubConfig | None = None, on_stamped: Callable[[Outgoing], None] | None = None
    ) -> None:
        self.config = config or HubConfig()
        self.on_stamped = on_stamped  # told each message it stamps (a node's bus publisher)
        self.stats = HubStats()
        self.subscribers: dict[int, Subscriber] = {}
        self._calls: OrderedDict[str, _CallLog] = OrderedDict()
        self._next_id = 1

    # -- subscribers -----------------------------------------------------
    def connect(self) -> Subscriber:
        sub = Subscriber(self._next_id, self.config.queue_events, self.config.queue_bytes)
        self._next_id += 1
        self.subscribers[sub.id] = sub
        return sub

    def disconnect(self, sub: Subscriber) -> None:
        if self.subscribers.pop(sub.id, None) is not None and sub.overflowed:
            self.stats.overflowed += 1
        self.stats.dropped += sub.dropped
        sub.dropped = 0

    def subscribe(
        self,
        sub: Subscriber,
        flt: Filter,
        resume: dict[str, int] | None = None,
        replay: bool = False,
    ) -> bool:
        """Start (or change) a subscription, first queueing what the client missed.

        ``resume`` maps call ids to the last ``seq`` the client saw; ``replay``
        asks for everything still held of every matching call.  The backlog,
        within :func:`replay_allowance`, goes into the room left in the queue
        (nothing is dropped for it, nothing of it is dropped).  False when it
        does not fit: the caller closes the subscriber with
        :data:`CLOSE_SLOW_CONSUMER`.
        """
        sub.filter = flt
        wanted = dict(resume or {})
        if replay:
            for call_id in self._calls:
                if flt.matches(call_id, None):
                    wanted.setdefault(call_id, 0)
        left = replay_allowance(sub)
        for call_id, last in wanted.items():
            backlog = self._backlog(call_id, last, flt, left)
            for msg in backlog:
                if not sub.offer_backlog(msg):
                    return False
            left = Allowance(left.events - len(backlog), left.bytes - sum(m.size for m in backlog))
        return True

    def _backlog(self, call_id: str, last: int, flt: Filter, left: Allowance) -> list[Outgoing]:
        log = self._calls.get(call_id)
        if log is None:
            return [self._resync(call_id, None, last, "call not known (ended long ago?)", left)]
        if last >= log.seq:
            return []
        oldest = log.events[0].seq if log.events else log.seq + 1
        if last + 1 < oldest:
            reason = f"events {last + 1}..{oldest - 1} are no longer held"
            return [self._resync(call_id, log, last, reason, left)]
        missed = [m for m in log.events if m.seq > last and flt.matches(call_id, m.party, m.type)]
        size = sum(m.size for m in missed)
        if len(missed) > left.events or size > left.bytes:
            reason = f"{len(missed)} events ({size} bytes) are more than one request may replay"
            return [self._resync(call_id, log, last, reason, left)]
        return missed

    def _resync(
        self, call_id: str, log: _CallLog | None, last: int, reason: str, left: Allowance
    ) -> Outgoing:
        """The call's finals and alerts so far (the newest that fit in ``left.bytes``)."""
        self.stats.resyncs += 1
        seq = log.seq if log else 0
        kept: deque[tuple[str, bytes]] = log.finals if log else deque()
        taken: list[tuple[str, bytes]] = []
        room = left.bytes - len(reason) - 256  # what the rest of the message takes
        for item in reversed(kept):
            room -= len(item[1]) + 2
            if room < 0:
                reason += (f"; the oldest {len(kept) - len(taken)} finals and alerts are over "
                           "the allowance")  # fmt: skip
                break
            taken.append(item)
        taken.reverse()
        finals = b", ".join(data for kind, data in taken if kind == "transcript.final")
        alerts = b", ".join(data for kind, data in taken if kind == "alert")
        head = dumps({"type": "resync", "call_id": call_id, "seq": seq, "after_seq": last,
                      "reason": reason, "ended": log.ended if log else None})  # fmt: skip
        data = head[:-1].encode() + b', "finals": [' + finals + b'], "alerts": [' + alerts + b"]}"
        return Outgoing(call_id, seq, "resync", None, data)

    def wants_partials(self, call_id: str, party: str) -> bool:
        """Whether a subscriber would get this stream's partials (any thread may ask)."""
        return any_wants_partials([s.filter for s in list(self.subscribers.values())],
                                   call_id, party)  # fmt: skip

    # -- publishing ------------------------------------------------------
    def publish(self, event: Publishable) -> list[Subscriber]:
        """Stamp ``event`` (a record, or a dict with ``type`` and ``call_id``) and queue it.

        Returns the subscribers that overflowed on it: the caller closes them.
        """
        if isinstance(event, dict):
            body = {k: v for k, v in event.items() if k != "seq"}
            call_id, kind, party = str(body["call_id"]), str(body["type"]), body.get("party")
            text = dumps(body)
        else:
            call_id, kind, party = event.call_id, event.type, getattr(event, "party", None)
            text = event.to_json()
        log = self._log_for(call_id, kind)
        log.seq += 1
        msg = Outgoing(call_id, log.seq, kind, party, with_seq(text, log.seq).encode())
        if self.on_stamped is not None:
            self.on_stamped(msg)
        return self._fan_out(log, msg)

    def deliver(self, msg: Outgoing) -> list[Subscriber]:
        """Queue a message stamped elsewhere (a gateway's, read from the bus) as is.

        Its ``seq`` is the node's: a message at or below the call's last seq is a
        copy already delivered (the bus is at-least-once) and is skipped, unless
        it starts the ended call's id again from another node (or a restarted
        one): that is a new call, numbered by its node from 1.
        """
        call_id = str(msg.call_id)
        known = self._calls.get(call_id)
        if known is not None and msg.seq <= known.seq:
            if not (known.ended and msg.type == "call.started" and msg.origin != known.origin):
                self.stats.duplicates += 1
                return []
            del self._calls[call_id]
        log = self._log_for(call_id, msg.type)
        log.seq, log.origin = msg.seq, msg.origin
        return self._fan_out(log, msg)

    def _log_for(self, call_id: str, kind: str) -> _CallLog:
        log = self._calls.get(call_id)
        if log is not None and log.ended and kind == "call.started":
            # the id came again: a new call, whose seq carries on from the old one's
            # so that a client resuming from the old call's last seq misses nothing
            del self._calls[call_id]
            log = self._calls[call_id] = _CallLog(seq=log.seq)
        elif log is None:
            log = self._calls[call_id] = _CallLog()
            self._forget_old_calls()
        return log

    def _fan_out(self, log: _CallLog, msg: Outgoing) -> list[Subscriber]:
        log.events.append(msg)
        if len(log.events) > self.config.replay_events:
            log.events.popleft()
        if msg.type in RESYNC_KEPT:
            log.finals.append((msg.type, msg.data))
            if len(log.finals) > self.config.finals_kept:
                log.finals.popleft()
        elif msg.type == "call.ended":
            log.ended = True
        self.stats.published += 1
        overflowed = []
        for sub in self.subscribers.values():
            if sub.filter is None or not sub.filter.matches(msg.call_id, msg.party, msg.type):
                continue
            if sub.offer(msg):
                self.stats.delivered += 1
            elif sub.overflowed:
                overflowed.append(sub)
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


def with_seq(text: str, seq: int) -> str:
    """``text`` (a JSON object) with ``"seq": seq`` added as its last key."""
    if not text.endswith("}") or text == "{}":
        raise ValueError("an event's JSON must be a non-empty object")
    return f'{text[:-1]}, "seq": {seq}}}'
