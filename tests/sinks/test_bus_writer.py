"""The bus writer's bounded queue and its drop policy; pipelined sends to a fake client."""

import threading

from sinks.bus_layout import Entry
from sinks.bus_writer import BusWriter


def e(name: str, droppable: bool = False) -> Entry:
    return Entry("k", {"name": name}, 100, droppable)


def names(w: BusWriter) -> list[str]:
    return [str(x.fields["name"]) for x in w._queue]


def never() -> object:
    raise AssertionError("not started: no client")


def test_a_full_queue_drops_droppable_entries_first_then_the_oldest():
    w = BusWriter(never, capacity=3, where="test")
    for entry in (e("final1"), e("partial1", True), e("final2")):
        w.offer(entry)
    w.offer(e("final3"))  # the partial makes room
    assert names(w) == ["final1", "final2", "final3"]
    w.offer(e("partial2", True))  # nothing droppable queued: the new partial is dropped
    assert names(w) == ["final1", "final2", "final3"]
    w.offer(e("final4"))  # nothing droppable at all: the oldest goes
    assert names(w) == ["final2", "final3", "final4"]
    assert w.stats.dropped == 3 and w.stats.offered == 6


class FakeRedis:
    """The transport seam: records each pipeline's commands; can fail the first ``fail`` sends."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.sent: list[list[tuple]] = []
        self.done = threading.Event()

    def pipeline(self, transaction: bool = True) -> "FakeRedis.Pipe":
        return FakeRedis.Pipe(self)

    class Pipe:
        def __init__(self, owner: "FakeRedis") -> None:
            self.owner = owner
            self.cmds: list[tuple] = []

        def xadd(self, key, fields, maxlen, approximate):  # noqa: ANN001
            self.cmds.append(("xadd", key, fields["name"], maxlen, approximate))

        def expire(self, key, ttl):  # noqa: ANN001
            self.cmds.append(("expire", key, ttl))

        def persist(self, key):  # noqa: ANN001
            self.cmds.append(("persist", key))

        def execute(self) -> None:
            if self.owner.fail:
                self.owner.fail -= 1
                raise ConnectionError("redis is down")
            self.owner.sent.append(self.cmds)
            if any(c[0] == "expire" for c in self.cmds):
                self.owner.done.set()


def test_entries_go_out_in_order_in_pipelines_and_a_failed_batch_is_sent_again():
    fake = FakeRedis(fail=2)
    w = BusWriter(lambda: fake, capacity=100, where="test")
    w.offer(Entry("k", {"name": "start"}, 100, ttl_s=0))
    w.offer(e("a"))
    w.offer(Entry("k", {"name": "end"}, 100, ttl_s=60))
    w.start()
    assert fake.done.wait(10)
    w.close()
    sent = [c for batch in fake.sent for c in batch]
    assert sent == [("xadd", "k", "start", 100, True), ("persist", "k"),
                    ("xadd", "k", "a", 100, True), ("xadd", "k", "end", 100, True),
                    ("expire", "k", 60)]  # fmt: skip
    assert w.stats.outages == 1 and w.stats.written == 3 and w.stats.dropped == 0
    assert not w.down
