"""The fan-out core: per-call seq, filters, replay and resync, the drop policy."""

from __future__ import annotations

import json

from sinks.hub import Filter, Hub, HubConfig


def ev(call: str, kind: str, party: str | None = "agent", **extra) -> dict:
    body = {"type": kind, "call_id": call, **extra}
    if party is not None:
        body["party"] = party
    return body


def texts(sub) -> list[dict]:
    out = [json.loads(m.text) for m in sub.queue]
    sub.queue.clear()
    return out


def test_seq_is_per_call_and_starts_at_one():
    hub = Hub()
    sub = hub.connect()
    hub.subscribe(sub, Filter())
    for call in ("a", "b", "a"):
        hub.publish(ev(call, "transcript.final"))
    assert [(m["call_id"], m["seq"]) for m in texts(sub)] == [("a", 1), ("b", 1), ("a", 2)]


def test_filters_by_call_and_party_and_unsubscribed_get_nothing():
    hub = Hub()
    only_b = hub.connect()
    hub.subscribe(only_b, Filter(calls=frozenset({"b"})))
    customers = hub.connect()
    hub.subscribe(customers, Filter(parties=frozenset({"customer"})))
    idle = hub.connect()
    hub.publish(ev("a", "transcript.final", "customer"))
    hub.publish(ev("b", "transcript.final", "agent"))
    hub.publish(ev("b", "call.ended", None))
    assert [(m["call_id"], m["type"]) for m in texts(only_b)] == [
        ("b", "transcript.final"), ("b", "call.ended")]  # fmt: skip
    # call-level events (no party) reach party-filtered subscribers too
    assert [(m["call_id"], m["type"]) for m in texts(customers)] == [
        ("a", "transcript.final"), ("b", "call.ended")]  # fmt: skip
    assert not idle.queue


def test_resume_sends_only_what_was_missed():
    hub = Hub()
    for i in range(5):
        hub.publish(ev("a", "transcript.final", text=str(i)))
    sub = hub.connect()
    hub.subscribe(sub, Filter(), resume={"a": 3})
    assert [m["seq"] for m in texts(sub)] == [4, 5]
    hub.subscribe(sub, Filter(), resume={"a": 5})
    assert texts(sub) == []


def test_replay_sends_everything_held_of_every_call():
    hub = Hub()
    hub.publish(ev("a", "call.started", None))
    hub.publish(ev("b", "call.started", None))
    sub = hub.connect()
    hub.subscribe(sub, Filter(), replay=True)
    assert [(m["call_id"], m["seq"]) for m in texts(sub)] == [("a", 1), ("b", 1)]


def test_resume_from_a_point_no_longer_held_gives_resync_with_the_finals():
    hub = Hub(HubConfig(replay_events=3))
    for i in range(6):
        kind = "transcript.final" if i % 2 == 0 else "transcript.partial"
        hub.publish(ev("a", kind, text=str(i)))
    sub = hub.connect()
    hub.subscribe(sub, Filter(), resume={"a": 1})
    (resync,) = texts(sub)
    assert resync["type"] == "resync" and resync["seq"] == 6 and resync["after_seq"] == 1
    assert [f["text"] for f in resync["finals"]] == ["0", "2", "4"]
    assert "2..3" in resync["reason"]
    hub.subscribe(sub, Filter(), resume={"gone": 4})
    assert texts(sub)[0]["reason"].startswith("call not known")
    assert hub.stats.resyncs == 2


def test_full_queue_drops_partials_first_and_never_a_final_silently():
    hub = Hub(HubConfig(queue_events=3))
    sub = hub.connect()
    hub.subscribe(sub, Filter())
    hub.publish(ev("a", "transcript.partial", text="p1"))
    hub.publish(ev("a", "transcript.final", text="f1"))
    hub.publish(ev("a", "transcript.partial", text="p2"))
    assert hub.publish(ev("a", "transcript.partial", text="p3")) == []  # dropped on arrival
    assert hub.publish(ev("a", "transcript.final", text="f2")) == []  # p1 makes room
    assert [m.text for m in sub.queue if "p1" in m.text] == []
    assert hub.publish(ev("a", "transcript.final", text="f3")) == []  # p2 makes room
    assert sub.dropped == 3
    overflowed = hub.publish(ev("a", "transcript.final", text="f4"))
    assert overflowed == [sub] and sub.overflowed
    assert [json.loads(m.text)["text"] for m in sub.queue] == ["f1", "f2", "f3"]
    hub.disconnect(sub)
    assert hub.stats.dropped == 3 and hub.stats.overflowed == 1


def test_ended_calls_are_forgotten_oldest_first_past_the_limit():
    hub = Hub(HubConfig(replay_calls=2))
    for call in ("a", "b"):
        hub.publish(ev(call, "call.ended", None))
    hub.publish(ev("c", "call.started", None))
    assert hub.last_seq("a") == 0 and hub.last_seq("b") == 1
    assert hub.active_calls() == ["c"]


def test_an_id_that_comes_again_is_a_new_call_whose_seq_carries_on():
    hub = Hub()
    sub = hub.connect()
    hub.subscribe(sub, Filter())
    for event in ("call.started", "call.ended", "call.started"):
        hub.publish({"type": event, "call_id": "c"})
    assert [m.seq for m in sub.queue] == [1, 2, 3]
    assert hub.active_calls() == ["c"]  # the new call is live; the old one's log is gone
    late = hub.connect()
    hub.subscribe(late, Filter(), replay=True)
    (msg,) = late.queue  # seq 1-2 were the old call's: a resync into the new one
    body = json.loads(msg.text)
    assert body["type"] == "resync" and body["seq"] == 3 and body["ended"] is False
