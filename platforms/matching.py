"""Pair an incoming supervise INVITE with the platform call it is for.  Sans-I/O.

RingCentral names the call in the INVITE (``p-rc-api-monitoring-ids``); RingCX,
Yeastar and Genesys place a plain call to the supervisor's number, so the SIP
session (the Call-ID) has to be paired with the uii / call id we asked to
supervise.  The watcher calls :meth:`InviteMatcher.expect` just before each
supervise request; when the device answers an INVITE, :meth:`answered` binds it
to the expected call whose hint (the caller number) matches the INVITE's
caller, else to the oldest expected call still within ``window_s``.  The
watcher sends one supervise request at a time, so the order holds.

Bounded: at most ``capacity`` expectations and bindings (oldest dropped).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class _Expected:
    call_id: str
    at_s: float
    hint: str


class InviteMatcher:
    def __init__(self, window_s: float = 15.0, capacity: int = 256) -> None:
        if window_s <= 0 or capacity < 1:
            raise ValueError("window_s must be > 0 and capacity >= 1")
        self.window_s = window_s
        self.capacity = capacity
        self._expected: list[_Expected] = []
        self._bound: OrderedDict[str, str] = OrderedDict()  # SIP session -> platform call
        self.unmatched = 0

    def expect(self, call_id: str, now_s: float, hint: str = "") -> None:
        self._expected.append(_Expected(call_id, now_s, hint))
        del self._expected[: -self.capacity]

    def cancel(self, call_id: str) -> None:
        """The supervise request failed: no INVITE will come for it."""
        self._expected = [e for e in self._expected if e.call_id != call_id]

    def answered(self, sip_session: str, caller: str | None, now_s: float) -> str | None:
        if sip_session in self._bound:
            return self._bound[sip_session]
        self._expected = [e for e in self._expected if now_s - e.at_s <= self.window_s]
        if not self._expected:
            self.unmatched += 1
            return None
        pick = next((e for e in self._expected if caller and e.hint == caller), self._expected[0])
        self._expected.remove(pick)
        self._bound[sip_session] = pick.call_id
        while len(self._bound) > self.capacity:
            self._bound.popitem(last=False)
        return pick.call_id

    def call_for(self, sip_session: str) -> str | None:
        return self._bound.get(sip_session)

    def forget(self, sip_session: str) -> None:
        self._bound.pop(sip_session, None)
