"""Per-call figures for call.stats: levels, RTP/jitter-buffer counters, ASR lag."""

from __future__ import annotations

import numpy as np

from records.device import StreamStats
from records.events import CallEnded, TranscriptFinal
from records.frames import AudioFrame
from sinks.stats import SILENT_DBFS, CallStatsBook


def frame(party: str, start: int, amplitude: int) -> AudioFrame:
    pcm = np.full(160, amplitude, dtype=np.int16)
    return AudioFrame("c", party, 8000, start, pcm)


def rtp(party: str, lost: int) -> StreamStats:
    return StreamStats("c", party, "PCMU", 500, lost, 0, 0, 0, 12.5, 80, 3, 1, 0, 0)


def test_level_is_rms_since_the_last_snapshot():
    book = CallStatsBook()
    book.on_frame(frame("agent", 0, 16384))  # half scale: -6.02 dBFS
    book.on_frame(frame("customer", 0, 0))
    snap = book.snapshot("c")
    assert snap is not None and snap["type"] == "call.stats" and snap["at"] == 0.02
    assert snap["parties"]["agent"]["level_dbfs"] == -6.0
    assert snap["parties"]["customer"]["level_dbfs"] == SILENT_DBFS
    again = book.snapshot("c")
    assert again is not None and again["parties"]["agent"]["level_dbfs"] == SILENT_DBFS


def test_rtp_counters_and_asr_lag_are_reported_and_the_call_is_forgotten_at_its_end():
    book = CallStatsBook()
    book.on_frame(frame("agent", 0, 100))
    book.on_stream_stats(rtp("agent", lost=7))
    book.on_event(TranscriptFinal("c", "agent", "agent-1", 1.0, 2.0, "hi", 2.45))
    party = book.snapshot("c")["parties"]["agent"]  # type: ignore[index]
    assert (party["lost"], party["jitter_ms"], party["jb_delay_ms"]) == (7, 12.5, 80)
    assert party["asr_lag_s"] == 0.45
    assert book.position_s("c") == 0.02
    book.on_event(CallEnded("c", 3.0, 3.0))
    assert book.snapshot("c") is None and book.calls() == [] and book.position_s("c") is None


def test_calls_beyond_the_limit_are_not_tracked():
    book = CallStatsBook(max_calls=1)
    book.on_frame(frame("agent", 0, 1))
    book.on_frame(AudioFrame("other", "agent", 8000, 0, np.zeros(160, np.int16)))
    assert book.calls() == ["c"]
