"""The auto-supervise policy: pure, told observations and the time."""

from __future__ import annotations

from platforms.base import LiveCall, Observation, Supervision
from platforms.policy import PolicyConfig, Release, Supervise, SupervisePolicy


def call(cid: str, state: str = "answered", legs: int = 2) -> LiveCall:
    return LiveCall(cid, "agent-" + cid, state, legs=legs)


def obs(*calls: LiveCall, complete: bool = False) -> Observation:
    return Observation(calls, complete)


def test_answered_calls_are_supervised_once_and_released_when_they_end():
    p = SupervisePolicy()
    assert p.observe(obs(call("a", "ringing")), 0) == []
    (action,) = p.observe(obs(call("a")), 1)
    assert action == Supervise(call("a"))
    assert p.observe(obs(call("a")), 2) == []  # in flight: never a second request
    sup = Supervision("a", 2, ("sup-1", "sup-2"))
    p.succeeded(sup)
    assert p.observe(obs(call("a")), 3) == [] and p.legs_in_use == 2
    assert p.observe(obs(call("a", "ended")), 4) == [Release(sup, "call ended")]
    assert p.status("a") is None and p.legs_in_use == 0


def test_the_device_call_limit_counts_legs():
    p = SupervisePolicy(PolicyConfig(max_device_calls=4))
    actions = p.observe(obs(call("a"), call("b"), call("c", legs=1)), 0)
    assert [a.call.call_id for a in actions] == ["a", "b"]  # 2 + 2 legs; c waits
    p.succeeded(Supervision("a", 2))
    p.succeeded(Supervision("b", 1))  # only one party could be supervised
    (c,) = p.observe(obs(), 1)
    assert c.call.call_id == "c" and p.legs_in_use == 4


def test_failures_are_retried_apart_then_given_up():
    p = SupervisePolicy(PolicyConfig(max_attempts=2, retry_interval_s=5))
    p.observe(obs(call("a")), 0)
    assert p.failed("a", 0) is True
    assert p.observe(obs(), 4) == []
    assert len(p.observe(obs(), 5)) == 1
    assert p.failed("a", 5) is False and p.status("a") == "done"
    assert p.observe(obs(call("a")), 100) == []
    p.observe(obs(call("b")), 100)
    p.deferred("b", 100)  # still ringing: no attempt counted
    p.observe(obs(), 105)
    assert p.failed("b", 105, permanent=True) is False and p.status("b") == "done"


def test_complete_snapshots_end_missing_calls_and_device_side_ends_free_capacity():
    p = SupervisePolicy()
    p.observe(obs(call("a"), call("b"), complete=True), 0)
    p.succeeded(Supervision("a", 2))
    p.succeeded(Supervision("b", 2))
    (release,) = p.observe(obs(call("b"), complete=True), 1)
    assert release.supervision.call_id == "a" and release.reason == "call no longer listed"
    p.released("b")  # the device's legs ended, the call goes on: not supervised again
    assert p.legs_in_use == 0 and p.observe(obs(call("b")), 2) == []
    assert p.ended("b", "gone") == []


def test_tracked_calls_are_bounded():
    p = SupervisePolicy(PolicyConfig(max_tracked_calls=2, max_device_calls=1))
    p.observe(obs(call("a", "ringing"), call("b", "ringing"), call("c", "ringing")), 0)
    assert [p.status(c) for c in "abc"] == [None, "waiting", "waiting"]
