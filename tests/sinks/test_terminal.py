"""The terminal sinks: ordered text for transcribe, a bounded queue for live output."""

import io
import threading

from records.events import CallEnded, CallStarted, TranscriptFinal, TranscriptPartial
from sinks.terminal import CallClockOrder, QueuedRenderer, TextRenderer


def final(start, party="agent", text="hi"):
    return TranscriptFinal("c", party, f"{party}-{start}", start, start + 1, text, start + 1)


def partial(start):
    return TranscriptPartial("c", "agent", "s", start, start + 1, "..", start + 1)


def test_transcribe_text_comes_in_call_clock_order():
    out = io.StringIO()
    order = CallClockOrder(TextRenderer(out, live=False))
    order(CallStarted("c", 0.0))
    for f in (final(30.7, "customer", "later"), final(22.6, "agent", "earlier")):
        order(f)
    assert out.getvalue() == ""  # held until the call's earlier segments are final
    order(CallEnded("c", 40.0, 40.0))
    assert out.getvalue() == "[00:22.6] agent: earlier\n[00:30.7] customer: later\n"


def test_a_blocked_terminal_drops_partials_first_then_the_oldest():
    gate, seen = threading.Event(), []
    first = threading.Event()

    def slow(event):
        first.set()
        gate.wait(30)
        seen.append(event)

    q = QueuedRenderer(slow, capacity=3)
    q(final(0))  # taken by the writer thread, which blocks
    first.wait(30)
    q(partial(1))
    q(final(2))
    q(final(3))
    q(partial(4))  # full: a new partial is dropped
    q(final(5))  # full: the waiting partial makes room
    q(final(6))  # full, no partial left: the oldest waiting event goes
    assert q.dropped == 3
    gate.set()
    q.close()
    assert [e.start for e in seen] == [0, 3, 5, 6]
