"""The device side's outbox: frames bounded (drop_newest_frame), events never dropped."""

import numpy as np

from records.device import LegRejected
from records.frames import AudioFrame
from softphone.outbox import Outbox


def frame(n: int) -> AudioFrame:
    return AudioFrame("c", "agent", 8000, 160 * n, np.zeros(160, np.int16))


def test_frames_past_the_bound_are_dropped_and_events_never():
    box = Outbox(frame_queue=2)
    assert box.offer(frame(0)) and box.offer(frame(1))
    assert not box.offer(frame(2)) and box.dropped == 1
    box.put(LegRejected("src", 403, "untrusted"))  # past the frame bound: still queued
    assert [type(box.get(0)).__name__ for _ in range(3)] == ["AudioFrame", "AudioFrame",
                                                             "LegRejected"]  # fmt: skip
    assert box.get(0) is None
    assert box.offer(frame(3))  # the consumer took two frames: room again
