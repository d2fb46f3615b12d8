"""What a gateway follows on the bus, and from where (pure)."""

from sinks.bus_cursor import START, Cursor, plan_load
from sinks.bus_layout import IndexEntry


def started(c: str) -> dict[str, str]:
    return {"event": "started", "call_id": c, "seq": "1"}


def ended(c: str) -> dict[str, str]:
    return {"event": "ended", "call_id": c, "seq": "9"}


def entry(seq: int, kind: str = "transcript.final") -> dict[bytes, bytes]:
    return {b"seq": str(seq).encode(), b"type": kind.encode(), b"party": b"agent",
            b"json": b'{"seq": %d}' % seq}  # fmt: skip


def test_plan_load_keeps_calls_going_and_the_newest_ended():
    index = [IndexEntry("started", c, 1) for c in "abcd"]
    index += [IndexEntry("ended", c, 5) for c in "abc"] + [IndexEntry("ended", "zz", 3)]
    assert plan_load(index, 2) == (["d"], ["b", "c"])
    assert plan_load(index, 0) == (["d"], [])
    # a reused id: started again after it ended is going
    assert plan_load([*index, IndexEntry("started", "a", 6)], 5) == (["d", "a"], ["b", "c"])


def test_a_call_is_followed_from_its_start_entry_to_its_end_entry():
    cur = Cursor("li", max_ended=1)
    assert cur.streams() == {"li:calls": START}
    assert cur.on_index("1-0", started("c")) is None
    assert cur.streams() == {"li:calls": "1-0", "li:call:c": START}
    msg = cur.on_call_entry("li:call:c", "2-0", entry(1))
    assert msg is not None and (msg.call_id, msg.seq, msg.party) == ("c", 1, "agent")
    assert cur.streams()["li:call:c"] == "2-0"
    cur.on_call_entry("li:call:c", "3-0", entry(2, "call.ended"))
    assert cur.streams() == {"li:calls": "1-0"}
    assert cur.last_id("c") == "3-0"
    # the id reused: followed again after the entry it stopped at
    cur.on_index("4-0", started("c"))
    assert cur.streams()["li:call:c"] == "3-0"


def test_an_index_end_asks_for_the_rest_once_when_the_call_is_still_followed():
    cur = Cursor("li")
    cur.on_index("1-0", started("c"))
    assert cur.on_index("2-0", ended("c")) == "c"  # its call.ended never came
    cur.stop_following("c")
    assert cur.on_index("3-0", ended("c")) is None
    assert cur.on_index("4-0", ended("never-seen")) is None


def test_ended_calls_are_remembered_within_the_bound():
    cur = Cursor("li", max_ended=2)
    for c in "abc":
        cur.follow(c)
        cur.on_call_entry(f"li:call:{c}", f"{ord(c)}-0", entry(1))
        cur.stop_following(c)
    assert [cur.last_id(c) for c in "abc"] == [START, "98-0", "99-0"]


def test_malformed_entries_are_counted_and_skipped():
    cur = Cursor("li")
    cur.follow("c")
    assert cur.on_call_entry("li:call:c", "1-0", {b"seq": b"x"}) is None
    assert cur.on_index("2-0", {"event": "exploded"}) is None
    assert cur.malformed == 2
    assert cur.streams()["li:call:c"] == "1-0"  # not read again
    assert cur.on_call_entry("elsewhere", "1-0", entry(1)) is None


def test_a_reused_id_read_in_one_range_is_followed_again_by_its_call_started():
    cur = Cursor("li")
    cur.follow("c")
    kinds = ["call.started", "call.ended", "call.started", "transcript.final"]
    for n, kind in enumerate(kinds, 1):
        cur.on_call_entry("li:call:c", f"{n}-0", entry(n, kind))
    assert cur.streams()["li:call:c"] == "4-0"
