"""Per-call figures for the periodic ``call.stats`` event.

Fed from three places (audio frames, the device's RTP/jitter-buffer counters,
the pipeline's events) and read by the server's stats tick; thread-safe with
one lock, cheap enough to sit on the audio path (one RMS per frame).  Time is
passed in: the snapshot says where on the call clock it was taken.

Per party: ``level_dbfs`` (RMS of the audio since the last snapshot, -100 for
silence or no audio), RTP ``rx_packets``/``lost``/``jitter_ms`` and jitter
buffer ``jb_delay_ms``/``jb_lost``/``jb_discarded`` (PJMEDIA's cumulative
counters, absent for replayed audio) and ``asr_lag_s`` (how long after the
end of its audio the party's last final was emitted).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from records.device import StreamStats
from records.events import CallEnded, Event, TranscriptFinal
from records.frames import AudioFrame

SILENT_DBFS = -100.0


@dataclass(slots=True)
class _Party:
    energy: float = 0.0  # sum of squares since the last snapshot, full scale = 1
    samples: int = 0
    position_s: float = 0.0
    asr_lag_s: float | None = None
    rtp: StreamStats | None = None


class CallStatsBook:
    def __init__(self, max_calls: int = 256) -> None:
        self.max_calls = max_calls
        self._lock = threading.Lock()
        self._calls: dict[str, dict[str, _Party]] = {}

    def _party(self, call_id: str, party: str) -> _Party | None:
        parties = self._calls.get(call_id)
        if parties is None:
            if len(self._calls) >= self.max_calls:
                return None  # policy: ignore_new_calls (stats only; audio is unaffected)
            parties = self._calls[call_id] = {}
        return parties.setdefault(party, _Party())

    def on_frame(self, frame: AudioFrame) -> None:
        pcm = frame.pcm.astype(np.float32)
        if frame.pcm.dtype == np.int16:
            pcm /= 32768.0
        energy = float(np.dot(pcm, pcm))
        with self._lock:
            p = self._party(frame.call_id, frame.party)
            if p is not None:
                p.energy += energy
                p.samples += frame.samples
                p.position_s = max(p.position_s, frame.end_s)

    def on_stream_stats(self, stats: StreamStats) -> None:
        with self._lock:
            p = self._party(stats.session_id, stats.party)
            if p is not None:
                p.rtp = stats

    def on_event(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, TranscriptFinal):
                p = self._party(event.call_id, event.party)
                if p is not None:
                    p.asr_lag_s = max(0.0, event.emitted_at - event.end)
            elif isinstance(event, CallEnded):
                self._calls.pop(event.call_id, None)

    def position_s(self, call_id: str) -> float | None:
        """End of the newest audio of ``call_id`` on the call clock (None: unknown call)."""
        with self._lock:
            parties = self._calls.get(call_id)
            return max(p.position_s for p in parties.values()) if parties else None

    def calls(self) -> list[str]:
        with self._lock:
            return list(self._calls)

    def snapshot(self, call_id: str) -> dict[str, Any] | None:
        """The ``call.stats`` event for ``call_id`` (levels reset for the next one)."""
        with self._lock:
            parties = self._calls.get(call_id)
            if not parties:
                return None
            out = {}
            for name, p in parties.items():
                out[name] = _party_dict(p)
                p.energy, p.samples = 0.0, 0
            at = max(p.position_s for p in parties.values())
        return {"type": "call.stats", "call_id": call_id, "at": round(at, 3), "parties": out}


def _party_dict(p: _Party) -> dict[str, Any]:
    level = SILENT_DBFS
    if p.samples and p.energy > 0:
        level = max(SILENT_DBFS, 10 * math.log10(p.energy / p.samples))
    d: dict[str, Any] = {
        "level_dbfs": round(level, 1),
        "asr_lag_s": None if p.asr_lag_s is None else round(p.asr_lag_s, 3),
    }
    if p.rtp is not None:
        r = p.rtp
        d.update(
            codec=r.codec,
            rx_packets=r.rx_packets,
            lost=r.lost,
            jitter_ms=round(r.jitter_ms, 1),
            jb_delay_ms=r.jb_delay_ms,
            jb_lost=r.jb_lost,
            jb_discarded=r.jb_discarded,
        )
    return d
