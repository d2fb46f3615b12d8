import numpy as np
import pytest

from pipeline.jobs import AsrJob, JobKind, JobQueue, QueueFull


def job(party="agent", kind=JobKind.PARTIAL, rev=1, at=0.0, call="c", seg=None):
    return AsrJob(
        call, party, seg or f"{party}-1", kind, rev, 0, np.zeros(160, np.float32), 16000, at
    )


def test_finals_first_then_oldest_partial():
    q = JobQueue()
    q.push(job("a", at=1.0))
    q.push(job("b", at=0.5))
    q.push(job("c", JobKind.FINAL, at=2.0))
    assert [q.pop().party for _ in range(3)] == ["c", "b", "a"]
    assert q.pop() is None


def test_newer_partial_replaces_older():
    q = JobQueue()
    q.push(job(rev=1))
    q.push(job(rev=2))
    assert len(q) == 1 and q.pop().revision == 2
    assert q.stats.partials_replaced == 1


def test_final_drops_pending_partial_of_its_stream():
    q = JobQueue()
    q.push(job(rev=1))
    q.push(job(rev=2, kind=JobKind.FINAL))
    assert len(q) == 1 and q.pop().kind is JobKind.FINAL
    assert q.stats.partials_dropped_for_final == 1


def test_finals_are_bounded_and_refusal_counted():
    q = JobQueue(max_finals=2)
    q.push(job("a", JobKind.FINAL))
    q.push(job("b", JobKind.FINAL))
    with pytest.raises(QueueFull):
        q.push(job("c", JobKind.FINAL))
    assert q.stats.finals_rejected == 1 and q.pending_finals == 2


def test_drop_stream():
    q = JobQueue()
    q.push(job("a", call="x"))
    q.push(job("b", call="x"))
    q.push(job("a", call="y"))
    q.drop_stream("x", "a")
    assert len(q) == 2
    q.drop_stream("x")
    assert len(q) == 1 and q.pop().call_id == "y"


def test_oldest_final_is_the_next_one_served():
    q = JobQueue()
    assert q.oldest_final is None
    q.push(job("s1", JobKind.PARTIAL, at=0.0))
    assert q.oldest_final is None  # partials are not finals
    first, second = job("s1", JobKind.FINAL, at=1.0), job("s2", JobKind.FINAL, at=2.0)
    q.push(first)
    q.push(second)
    assert q.oldest_final is first
    assert q.pop() is first and q.oldest_final is second


def test_a_streams_finals_are_decoded_one_at_a_time_in_order():
    """Two workers must not decode two finals of one speaker at once: the shorter would
    come back first, and the card redaction reads a party's finals in order."""
    q = JobQueue()
    a1, a2 = job(kind=JobKind.FINAL, seg="a-1"), job(kind=JobKind.FINAL, seg="a-2")
    c1 = job("customer", kind=JobKind.FINAL, seg="c-1")
    for j in (a1, a2, c1):
        q.push(j)
    assert q.pop() is a1
    assert q.pop() is c1  # a-2 waits for a-1, another stream's final goes meanwhile
    assert not q.ready() and q.pop() is None and len(q) == 1
    q.push(job(rev=5))  # a partial of the busy stream may still be decoded
    assert q.ready() and q.pop().kind is JobKind.PARTIAL
    again = job(kind=JobKind.FINAL, seg="a-1", rev=2)
    q.push(again, first=True)  # a-1 decoded once more: before a-2
    q.done(a1)
    assert q.pop() is again and q.pop() is None
    q.done(again)
    assert q.pop() is a2
