"""The fan-out core: per-call seq, filters, replay and resync, the drop policy."""

from __future__ import annotations

import json

from sinks.filters import Filter
from sinks.hub import Hub, HubConfig


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


def test_a_subscriber_can_decline_partials_and_the_hub_says_who_wants_them():
    hub = Hub()
    finals_only = hub.connect()
    hub.subscribe(finals_only, Filter(partials=False))
    assert not hub.wants_partials("a", "agent")
    hub.publish(ev("a", "transcript.partial"))
    hub.publish(ev("a", "transcript.final"))
    assert [m["type"] for m in texts(finals_only)] == ["transcript.final"]
    hub.subscribe(finals_only, Filter(), resume={"a": 0})  # a resume honours the filter too
    assert [m["type"] for m in texts(finals_only)] == ["transcript.partial", "transcript.final"]
    customers = hub.connect()
    hub.subscribe(customers, Filter(parties=frozenset({"customer"})))
    hub.subscribe(finals_only, Filter(partials=False))
    assert hub.wants_partials("a", "customer") and not hub.wants_partials("a", "agent")


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
    assert "2..3" in resync["reason"] and resync["alerts"] == []
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


def test_the_queue_is_bounded_in_bytes_too_counting_what_the_socket_holds():
    hub = Hub(HubConfig(queue_events=1000, queue_bytes=16 * 1024))
    sub = hub.connect()
    hub.subscribe(sub, Filter())
    on_the_wire = [0]
    sub.unsent = lambda: on_the_wire[0]
    big = "x" * 3000
    hub.publish(ev("a", "transcript.partial", text=big))
    for _ in range(3):
        assert hub.publish(ev("a", "transcript.final", text=big)) == []
    assert len(sub.queue) == 4 and sub.pending_bytes == sum(m.size for m in sub.queue)
    on_the_wire[0] = 3000  # the writer handed bytes to the socket that are not sent yet
    assert hub.publish(ev("a", "transcript.final", text=big)) == []  # the partial makes room
    assert sub.dropped == 1 and all(m.type == "transcript.final" for m in sub.queue)
    assert hub.publish(ev("a", "transcript.final", text=big)) == [sub] and sub.overflowed
    assert sub.pending_bytes <= 16 * 1024


def test_the_writer_takes_from_the_queue_and_the_byte_count_follows():
    hub = Hub()
    sub = hub.connect()
    hub.subscribe(sub, Filter())
    hub.publish(ev("a", "call.started", None))
    msg = sub.take()
    assert msg is not None and json.loads(msg.data) == {"type": "call.started", "call_id": "a",
                                                        "seq": 1}  # fmt: skip
    assert sub.take() is None and sub.queued_bytes == 0


def test_a_replay_larger_than_half_the_queue_becomes_a_resync_with_the_newest_finals():
    hub = Hub(HubConfig(queue_events=8))
    for i in range(6):
        hub.publish(ev("a", "transcript.final", text=f"f{i}"))
    hub.publish(ev("b", "transcript.final", text="b0"))
    sub = hub.connect()
    assert hub.subscribe(sub, Filter(), replay=True)  # 4 events per request at most
    resync_a, b0 = texts(sub)
    assert resync_a["type"] == "resync" and "more than one request may replay" in resync_a["reason"]
    assert [f["text"] for f in resync_a["finals"]] == [f"f{i}" for i in range(6)]
    assert [f["seq"] for f in resync_a["finals"]] == list(range(1, 7))
    assert (b0["type"], b0["seq"]) == ("transcript.final", 1)

    small = Hub(HubConfig(queue_bytes=16 * 1024))
    for i in range(40):
        small.publish(ev("a", "transcript.final", text=f"{i:02d}" + "x" * 400))
    sub = small.connect()
    small.subscribe(sub, Filter(), resume={"a": 0})
    (resync,) = texts(sub)  # the finals are cut to the newest that fit in 8 KiB
    kept = [f["text"][:2] for f in resync["finals"]]
    assert 0 < len(kept) < 40 and kept == [f"{i:02d}" for i in range(40 - len(kept), 40)]
    assert f"the oldest {40 - len(kept)} finals" in resync["reason"]


def test_replay_requests_that_are_not_read_overflow_the_queue():
    hub = Hub(HubConfig(queue_events=64))
    for i in range(20):
        hub.publish(ev("a", "transcript.partial", text=str(i)))
    sub = hub.connect()
    results = [hub.subscribe(sub, Filter(), replay=True) for _ in range(4)]
    assert results == [True, True, True, False]  # 20 + 20 + 20 queued, then no room
    hub.disconnect(sub)
    assert sub.overflowed and hub.stats.overflowed == 1
    assert len(sub.queue) == 64 and sub.dropped == 0  # replayed partials are not dropped


def test_records_are_published_with_their_one_json_text_and_seq_spliced_in():
    from records.events import TranscriptFinal, Word

    hub = Hub()
    sub = hub.connect()
    hub.subscribe(sub, Filter())
    final = TranscriptFinal("c", "agent", "agent-1", 0, 1, "héllo", 2, (Word("héllo", 0, 1, 0.9),))
    hub.publish(final)
    hub.publish({"type": "call.stats", "call_id": "c", "at": 1.0, "parties": {}})
    got, stats = sub.queue
    assert got.data == (final.to_json()[:-1] + ', "seq": 1}').encode()
    assert json.loads(got.data) == {**final.to_dict(), "seq": 1}
    assert (got.type, got.party, stats.seq) == ("transcript.final", "agent", 2)


def test_a_gateway_hub_delivers_what_a_node_stamped_with_the_same_seq_and_bytes():
    stamped = []
    node = Hub(on_stamped=stamped.append)
    for kind in ("call.started", "transcript.partial", "transcript.final", "call.ended"):
        node.publish(ev("a", kind))
    gateway = Hub()
    sub = gateway.connect()
    gateway.subscribe(sub, Filter())
    for msg in stamped[:3] + stamped[1:]:  # read twice (at-least-once): copies are skipped
        gateway.deliver(msg)
    assert [m.data for m in sub.queue] == [m.data for m in stamped]
    assert gateway.stats.duplicates == 2
    assert gateway.last_seq("a") == 4 and gateway.active_calls() == []
    # a client resuming on the gateway gets what it missed, resync of finals included
    late = gateway.connect()
    gateway.subscribe(late, Filter(), resume={"a": 1})
    assert [m["seq"] for m in texts(late)] == [2, 3, 4]


def test_a_call_id_reused_on_another_node_is_a_new_call_and_copies_are_not():
    from dataclasses import replace

    def stamped_by(node: str) -> list:
        out: list = []
        hub = Hub(on_stamped=out.append)
        for kind in ("call.started", "transcript.final", "call.ended"):
            hub.publish(ev("a", kind))
        return [replace(m, origin=node) for m in out]

    first, again = stamped_by("node-1"), stamped_by("node-2")
    gateway = Hub()
    sub = gateway.connect()
    gateway.subscribe(sub, Filter())
    for msg in first + first[:1] + again:  # a copy of node-1's start, then node-2's call
        gateway.deliver(msg)
    assert [(m.origin, m.seq) for m in sub.queue] == [
        ("node-1", 1),
        ("node-1", 2),
        ("node-1", 3),
        ("node-2", 1),
        ("node-2", 2),
        ("node-2", 3),
    ]
    assert gateway.stats.duplicates == 1


def test_resync_carries_the_alerts_beside_the_finals_within_the_allowance():
    hub = Hub(HubConfig(replay_events=2, finals_kept=3))
    for i in range(3):
        hub.publish(ev("a", "transcript.final", segment_id=f"s{i}", text=f"cancel {i}"))
        hub.publish(ev("a", "alert", rule="cancel", segment_id=f"s{i}", matched="cancel"))
    sub = hub.connect()
    hub.subscribe(sub, Filter(), resume={"a": 0})
    (resync,) = texts(sub)
    # finals_kept bounds finals and alerts together: the newest three of the six
    assert [(f["segment_id"], f["seq"]) for f in resync["finals"]] == [("s2", 5)]
    assert [(a["segment_id"], a["seq"]) for a in resync["alerts"]] == [("s1", 4), ("s2", 6)]
    assert resync["seq"] == 6
