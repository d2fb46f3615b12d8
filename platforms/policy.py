"""The auto-supervise policy: which calls to supervise, and when to let go.  Sans-I/O.

Told what the platform shows (:class:`~platforms.base.Observation`)
and the time, it answers with actions: :class:`Supervise` a call that reached
*answered*, :class:`Release` one that ended.  Rules:

* one supervision per call, never a second request for a call already
  supervised or in flight (platforms allow one supervisor per call);
* the device's call limit: the legs of active and pending supervisions never
  exceed ``max_device_calls`` (per-party supervision takes a leg per party);
  a call over the limit waits and is supervised when capacity frees up;
* a failed request is retried on a later turn, ``retry_interval_s`` apart, up to
  ``max_attempts``; a permanent failure (permission, another supervisor) is not.

Tracked calls are bounded (``max_tracked_calls``, policy ``evict_oldest``).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass

from .base import LiveCall, Observation, Supervision

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    max_device_calls: int = 4  # SIP calls the device takes (pjsua2 wheel: 4)
    max_attempts: int = 3  # supervise requests per call before giving up
    retry_interval_s: float = 5.0  # between attempts for one call
    max_tracked_calls: int = 10000

    def __post_init__(self) -> None:
        if not 1 <= self.max_device_calls <= 64:
            raise ValueError("max_device_calls must be within 1..64")
        if self.max_attempts < 1 or self.retry_interval_s < 0 or self.max_tracked_calls < 1:
            raise ValueError("max_attempts >= 1, retry_interval_s >= 0, max_tracked_calls >= 1")


@dataclass(frozen=True, slots=True)
class Supervise:
    call: LiveCall


@dataclass(frozen=True, slots=True)
class Release:
    supervision: Supervision
    reason: str


Action = Supervise | Release


@dataclass(slots=True)
class _Track:
    call: LiveCall
    status: str = "waiting"  # waiting | pending | active | done (given up or released)
    attempts: int = 0
    next_try_s: float = 0.0
    supervision: Supervision | None = None
    waiting_for_capacity: bool = False


class SupervisePolicy:
    def __init__(self, config: PolicyConfig | None = None) -> None:
        self.config = config or PolicyConfig()
        self._calls: OrderedDict[str, _Track] = OrderedDict()

    @property
    def legs_in_use(self) -> int:
        total = 0
        for t in self._calls.values():
            if t.status == "active" and t.supervision is not None:
                total += t.supervision.legs
            elif t.status == "pending":
                total += t.call.legs
        return total

    def active(self) -> list[Supervision]:
        return [
            t.supervision
            for t in self._calls.values()
            if t.status == "active" and t.supervision is not None
        ]

    def status(self, call_id: str) -> str | None:
        t = self._calls.get(call_id)
        return t.status if t else None

    def observe(self, obs: Observation, now_s: float) -> list[Action]:
        actions: list[Action] = []
        seen = set()
        for call in obs.calls:
            seen.add(call.call_id)
            track = self._calls.get(call.call_id)
            if call.state == "ended":
                if track is not None:
                    actions.extend(self._end(call.call_id, "call ended"))
                continue
            if track is None:
                self._calls[call.call_id] = _Track(call)
                while len(self._calls) > self.config.max_tracked_calls:
                    self._calls.popitem(last=False)  # policy: evict_oldest
            elif track.status != "pending":
                track.call = call
        if obs.complete:
            for call_id in [
                c for c, t in self._calls.items() if c not in seen and t.status != "pending"
            ]:
                actions.extend(self._end(call_id, "call no longer listed"))
        for track in self._calls.values():
            if track.status != "waiting" or track.call.state != "answered":
                continue
            if now_s < track.next_try_s:
                continue
            if self.legs_in_use + track.call.legs > self.config.max_device_calls:
                if not track.waiting_for_capacity:
                    log.info(
                        "call %s waits: the device's %d calls are in use",
                        track.call.call_id,
                        self.config.max_device_calls,
                    )
                    track.waiting_for_capacity = True
                continue
            track.status = "pending"
            track.waiting_for_capacity = False
            actions.append(Supervise(track.call))
        return actions

    def prepared(self, call: LiveCall) -> None:
        """The adapter learnt more about a pending call (its parties, so its legs)."""
        track = self._calls.get(call.call_id)
        if track is not None:
            track.call = call

    def succeeded(self, supervision: Supervision) -> None:
        track = self._calls.get(supervision.call_id)
        if track is None:
            return
        track.status, track.supervision = "active", supervision

    def failed(self, call_id: str, now_s: float, permanent: bool = False) -> bool:
        """Record a failed request; True when the call will be tried again."""
        track = self._calls.get(call_id)
        if track is None:
            return False
        track.attempts += 1
        if permanent or track.attempts >= self.config.max_attempts:
            track.status = "done"
            return False
        track.status = "waiting"
        track.next_try_s = now_s + self.config.retry_interval_s
        return True

    def deferred(self, call_id: str, now_s: float) -> None:
        """Not ready yet (still ringing): try again later without counting an attempt."""
        track = self._calls.get(call_id)
        if track is not None and track.status == "pending":
            track.status = "waiting"
            track.next_try_s = now_s + self.config.retry_interval_s

    def ended(self, call_id: str, reason: str) -> list[Action]:
        """The call is over (a stale id answered 404, the platform said so)."""
        return self._end(call_id, reason)

    def released(self, call_id: str) -> None:
        """The device's legs of this supervision ended while the call may go on: free the
        capacity, and do not supervise the call again."""
        track = self._calls.get(call_id)
        if track is not None and track.status == "active":
            track.status = "done"

    def _end(self, call_id: str, reason: str) -> list[Action]:
        track = self._calls.pop(call_id, None)
        if track is not None and track.status == "active" and track.supervision is not None:
            return [Release(track.supervision, reason)]
        return []
