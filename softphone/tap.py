"""The PCM tap: a pjsua2 media port that receives one party's decoded audio.

``onFrameReceived`` runs on PJMEDIA's clock thread every 20 ms.  It must not
block: it turns the frame into an :class:`~records.frames.AudioFrame` on the
session's call clock and hands it to ``offer`` (a non-blocking put).
"""

from __future__ import annotations

import ctypes
import logging
import time
from collections.abc import Callable

import numpy as np
import pjsua2 as pj

from records.frames import AudioFrame
from records.kinds import StreamKind

from .clock import StreamClock

log = logging.getLogger(__name__)


def _vector_bytes_fast(vec: pj.ByteVector) -> bytes:
    """Read a std::vector<unsigned char> in place: ~3 us instead of ~300 us via SWIG."""
    addr = int(vec.this)
    begin, end = ctypes.cast(addr, ctypes.POINTER(ctypes.c_void_p * 2)).contents
    if not begin or not end:
        return b""
    return ctypes.string_at(begin, end - begin)


def _vector_bytes_slow(vec: pj.ByteVector) -> bytes:
    return bytes(vec)


def _pick_reader() -> Callable[[pj.ByteVector], bytes]:
    """Use the in-place read only if it agrees with SWIG on this build."""
    probe = pj.ByteVector(b"\x01\x02\x03listenin")
    try:
        if _vector_bytes_fast(probe) == bytes(probe):
            return _vector_bytes_fast
    except (ValueError, OSError, TypeError):  # pragma: no cover - other C++ runtimes
        pass
    log.warning("ByteVector layout not recognised; using the slow per-byte copy")
    return _vector_bytes_slow


vector_bytes = _pick_reader()


class Tap(pj.AudioMediaPort):  # type: ignore[misc]
    def __init__(
        self,
        session_id: str,
        label: str,
        rate: int,
        clock: StreamClock,
        offer: Callable[[AudioFrame], None],
        kind: StreamKind = StreamKind.PARTY,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.session_id = session_id
        self.label = label
        self.rate = rate
        self.clock = clock
        self.offer = offer
        self.frames = 0
        self.silent_frames = 0  # the bridge had nothing for us (before media, or a hole)
        self._silence = np.zeros(rate // 50, dtype=np.int16)
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, rate, 1, 20000, 16)
        self.createPort(f"tap:{session_id}:{label}"[:60], fmt)

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802 (pjsua2 name)
        try:
            if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size:
                pcm = np.frombuffer(vector_bytes(frame.buf), dtype="<i2")
            else:
                pcm = self._silence
                self.silent_frames += 1
            start = self.clock.advance(time.monotonic_ns(), pcm.size)
            self.frames += 1
            self.offer(AudioFrame(self.session_id, self.label, self.rate, start, pcm, self.kind))
        except Exception:  # never let an exception cross into the media thread
            log.exception("call %s party %s: tap failed", self.session_id, self.label)

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # noqa: N802
        frame.type = pj.PJMEDIA_FRAME_TYPE_NONE  # listen only: the tap is never a source

    def destroy(self) -> None:
        """Unregister from the bridge now, while this object is alive (GC would race)."""
        pj.AudioMediaPort.__swig_destroy__(self)
