"""The device side's one outbox: records for a single consumer, frames bounded.

Frames beyond ``frame_queue`` waiting are refused (policy ``drop_newest_frame``,
counted in ``dropped``); other records (call events) are never dropped.  One
producer thread may offer frames (``frames_in``) while one consumer gets
(``frames_out``): each counter has one writer.  Shared by
:class:`~softphone.device.Device` and :class:`~softphone.pool.DevicePool`.
"""

from __future__ import annotations

import queue

from records.device import DeviceEvent
from records.frames import AudioFrame


class Outbox:
    def __init__(self, frame_queue: int) -> None:
        self.frame_queue = frame_queue
        self.dropped = 0
        self._queue: queue.SimpleQueue[AudioFrame | DeviceEvent] = queue.SimpleQueue()
        self._frames_in = 0  # written only by the frames' producer
        self._frames_out = 0  # written only by the consumer

    def offer(self, frame: AudioFrame) -> bool:
        """Queue a frame unless ``frame_queue`` wait already; False when it was dropped."""
        if self._frames_in - self._frames_out >= self.frame_queue:
            self.dropped += 1  # policy: drop_newest_frame
            return False
        self._frames_in += 1
        self._queue.put(frame)
        return True

    def put(self, event: DeviceEvent) -> None:
        self._queue.put(event)  # call events are never dropped (they are rare)

    def get(self, timeout_s: float | None = None) -> AudioFrame | DeviceEvent | None:
        """Next record, or None after ``timeout_s``."""
        try:
            item = self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return None
        if isinstance(item, AudioFrame):
            self._frames_out += 1
        return item
