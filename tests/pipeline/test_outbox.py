"""The pipeline's outbox: events in order, one deliverer at a time, a failing sink logged."""

import logging
import threading

from pipeline.outbox import Outbox
from records.events import CallEnded, CallStarted


def started(n: int) -> CallStarted:
    return CallStarted(f"c{n}", 0.0)


def test_events_go_out_in_order_and_only_when_delivered():
    got = []
    box = Outbox(got.append)
    for n in range(3):
        box.put(started(n))
    assert got == [] and len(box) == 3
    box.deliver()
    assert [e.call_id for e in got] == ["c0", "c1", "c2"] and len(box) == 0


def test_a_sink_that_raises_is_logged_and_the_next_event_still_goes_out(caplog):
    got = []

    def sink(event):
        if event.call_id == "c0":
            raise RuntimeError("sink down")
        got.append(event)

    box = Outbox(sink)
    box.put(started(0))
    box.put(started(1))
    with caplog.at_level(logging.ERROR, logger="pipeline.outbox"):
        box.deliver()
    assert [e.call_id for e in got] == ["c1"]
    assert "event sink failed on call.started" in caplog.text


def test_while_one_thread_delivers_another_returns_at_once_and_its_events_follow():
    got, entered, release = [], threading.Event(), threading.Event()

    def sink(event):
        if event.call_id == "c0":
            entered.set()
            release.wait(5)
        got.append(event.call_id)

    box = Outbox(sink)
    box.put(started(0))
    slow = threading.Thread(target=box.deliver)
    slow.start()
    assert entered.wait(5)
    box.put(CallEnded("c0", 1.0, 1.0))
    box.deliver()  # the slow thread is delivering: this one does not wait for it
    assert got == []
    release.set()
    slow.join(5)
    assert got == ["c0", "c0"]
