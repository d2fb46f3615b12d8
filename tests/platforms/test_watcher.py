"""The watcher loop over a scripted adapter: errors never stop it, time is injected."""

from __future__ import annotations

import pytest

from platforms.base import CallParty, LiveCall, Observation, Supervision
from platforms.errors import CallGone, Conflict, ServerError, TransportError
from platforms.http import HttpClient
from platforms.watcher import Watcher
from records.device import LegAnswered, LegEnded, StreamLabel
from softphone.admission import PartyRoles


class Scripted:
    """An adapter whose answers the test sets: the seam the watcher talks through."""

    name = "scripted"
    invite_names_call = False
    interval_s = 1.0

    def __init__(self) -> None:
        self.observations: list[Observation | Exception] = []
        self.supervise_errors: dict[str, Exception] = {}
        self.supervised: list[str] = []
        self.stopped: list[str] = []
        self.opened = self.closed = 0

    def open(self) -> None:
        self.opened += 1

    def close(self) -> None:
        self.closed += 1

    def poll(self) -> Observation:
        item = self.observations.pop(0) if self.observations else Observation((), False)
        if isinstance(item, Exception):
            raise item
        return item

    def prepare(self, call: LiveCall) -> LiveCall:
        return LiveCall(
            call.call_id,
            call.agent,
            call.state,
            legs=2,
            parties=(CallParty("p-1", "agent"), CallParty("p-2", "customer")),
        )

    def supervise(self, call: LiveCall) -> Supervision:
        if call.call_id in self.supervise_errors:
            raise self.supervise_errors.pop(call.call_id)
        self.supervised.append(call.call_id)
        return Supervision(call.call_id, call.legs, ("h",))

    def stop(self, supervision: Supervision) -> None:
        self.stopped.append(supervision.call_id)


def answered(*ids: str) -> Observation:
    return Observation(tuple(LiveCall(i, "101", "answered") for i in ids), False)


def test_errors_are_logged_and_the_loop_goes_on(fake_clock, debug_logs):
    p = Scripted()
    roles = PartyRoles()
    w = Watcher(p, clock=fake_clock.clock, sleep=fake_clock.sleep, roles=roles)
    p.observations = [
        ServerError("scripted", "GET /calls: 503"),
        RuntimeError("bug"),
        answered("a", "b", "c"),
    ]
    p.supervise_errors = {
        "a": CallGone("scripted", "gone"),
        "b": Conflict("scripted", "409"),
        "c": ZeroDivisionError(),
    }
    stops = iter([False] * 6 + [True])  # asked before and after each step
    w.run(lambda: next(stops))
    assert fake_clock.sleeps == [2.0, 4.0, 1.0]  # doubled after each failed poll, then back
    assert "listing calls failed: scripted: GET /calls: 503" in debug_logs.text
    assert "Traceback" in debug_logs.text  # the unexpected ones, with their traceback
    assert w.policy.status("a") is None and w.policy.status("b") == "done"
    assert w.policy.status("c") == "done" and p.opened == 1 and p.closed == 1
    assert roles.get("c", "p-1") == "agent"  # told before the request went out


def test_device_events_pair_sessions_and_release_capacity(fake_clock):
    p = Scripted()
    w = Watcher(p, clock=fake_clock.clock, sleep=fake_clock.sleep)
    p.observations = [answered("uii-1")]
    w.step()
    assert w.policy.legs_in_use == 2
    w.device_event(
        LegAnswered("1", "sip-1", (StreamLabel(0, "pbxsim", "pbxsim"),), "x", "fallback", 1.0)
    )
    assert w.call_for("sip-1") == "uii-1"
    w.device_event(LegEnded("1", "sip-1", ("pbxsim",), "BYE"))
    w.step()
    assert w.policy.legs_in_use == 0 and w.policy.status("uii-1") == "done"
    assert w.call_for("sip-1") == "uii-1"  # still known, for late events
    w.close()
    assert p.stopped == []


def test_close_stops_active_supervisions(fake_clock):
    p = Scripted()
    w = Watcher(p, clock=fake_clock.clock, sleep=fake_clock.sleep)
    p.observations = [answered("a")]
    w.step()
    w.close()
    assert p.stopped == ["a"] and p.closed == 1


def test_no_response_is_a_transport_error():
    http = HttpClient("scripted", "http://127.0.0.1:9", timeout_s=1, sleep=lambda s: None)
    with pytest.raises(TransportError, match="scripted: GET /x: no response"):
        http.request("GET", "/x")
    assert http.requests_sent == 5  # idempotent: retried max_retries times
    with pytest.raises(TransportError):
        http.request("POST", "/x")
    assert http.requests_sent == 6  # not idempotent: sent once
