"""Soak: thousands of short calls through one pipeline; memory must stay flat.

Drives ``--calls`` short two-party calls (real recorded speech from
``fixtures/call2``, a few seconds per party) through one :class:`Pipeline` with
a stub recogniser (instant, fixed text), the websocket :class:`~sinks.hub.Hub`
behind it, as fast as the pipeline takes them.  Every other call reuses the id
of a call that has ended, as a second supervise of the same session does.
Prints one JSON line: ``rss_growth_mb`` (resident memory after the last call
minus after the first 100), ``calls_with_events`` (calls whose events came
complete and in order: started, joined, finals, left, ended) and
``open_calls_after`` (what the pipeline still holds).

    python -m bench.soak --calls 2000
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

from bench.realtime import machine
from listenin.replay import PartyAudio, frames, load_party
from pipeline.asr import AsrResult, AsrWord
from pipeline.runtime import Pipeline, PipelineConfig
from records.events import Event
from sinks.hub import Hub

ROOT = Path(__file__).resolve().parents[1]


class StubEngine:
    """An instant recogniser: every decode says the same two words."""

    sample_rate = 16000

    def transcribe(
        self, audio: np.ndarray, *, word_timestamps: bool, partial: bool = False
    ) -> AsrResult:
        dur = audio.size / self.sample_rate
        words = (AsrWord(" hello", 0.0, dur / 2, 0.9), AsrWord(" there", dur / 2, dur, 0.9))
        return AsrResult("hello there", words if word_timestamps else (), 0.01, -0.1, 1.0)


class CallChecker:
    """Counts calls whose events arrived complete and in order; keeps nothing per ended call."""

    def __init__(self, hub: Hub | None = None) -> None:
        self.hub = hub
        self.lock = threading.Lock()
        self.open: dict[str, list[tuple[str, str]]] = {}
        self.complete = 0
        self.broken = 0
        self.ended = threading.Condition(self.lock)

    def __call__(self, event: Event) -> None:
        with self.lock:
            if self.hub is not None:
                self.hub.publish(event)
            seen = self.open.setdefault(event.call_id, [])
            seen.append((event.type, getattr(event, "party", "")))
            if event.type == "call.ended":
                del self.open[event.call_id]
                if self._complete(seen):
                    self.complete += 1
                else:
                    self.broken += 1
                self.ended.notify_all()

    @staticmethod
    def _complete(seen: list[tuple[str, str]]) -> bool:
        """Started once, first; every party's finals before its party.left; ended last."""
        types = [t for t, _ in seen]
        if types[0] != "call.started" or types.count("call.started") != 1:
            return False
        left = {party: i for i, (t, party) in enumerate(seen) if t == "party.left"}
        finals = [(i, party) for i, (t, party) in enumerate(seen) if t == "transcript.final"]
        return len(left) == 2 and bool(finals) and all(i < left[p] for i, p in finals)

    def wait_ended(self, count: int, timeout: float = 30.0) -> bool:
        with self.ended:
            return self.ended.wait_for(lambda: self.complete + self.broken >= count, timeout)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def short_call(seconds: float) -> list[PartyAudio]:
    spec = json.loads((ROOT / "fixtures" / "call2.json").read_text())
    parties = [load_party(p, ROOT / "fixtures" / f) for p, f in spec["parties"].items()]
    out = []
    for p in parties:  # each party's first voiced stretch of `seconds`
        n = int(seconds * p.sample_rate)
        level = np.abs(p.pcm.astype(np.int32))
        first = int(np.argmax(level > 2000))
        a = max(0, first - p.sample_rate // 4)
        out.append(PartyAudio(p.party, p.sample_rate, p.pcm[a : a + n]))
    return out


def drive(pipeline: Pipeline, call_id: str, parties: list[PartyAudio]) -> None:
    for _, frame in frames(call_id, parties):
        pipeline.push(frame)
    for p in parties:
        pipeline.end_party(call_id, p.party)
    pipeline.end_call(call_id)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=2.0, help="audio per party per call")
    args = ap.parse_args(argv)
    parties = short_call(args.seconds)
    hub = Hub()
    checker = CallChecker(hub)
    pipeline = Pipeline(StubEngine(), checker, PipelineConfig(asr_workers=2))
    baseline = None
    t0 = time.perf_counter()
    for i in range(args.calls):
        call_id = f"soak-{i - 1 if i % 2 else i}"  # odd calls reuse the id that just ended
        drive(pipeline, call_id, parties)
        if not checker.wait_ended(i + 1):
            print(f"call {call_id} did not end", file=sys.stderr)
            break
        if i + 1 == 100:
            gc.collect()
            baseline = rss_mb()
        if (i + 1) % 500 == 0:
            print(f"{i + 1} calls, rss {rss_mb():.1f} MB", file=sys.stderr)
    elapsed = time.perf_counter() - t0
    pipeline.close()
    gc.collect()
    end = rss_mb()
    print(
        json.dumps(
            {
                "bench": "soak",
                "calls": args.calls,
                "calls_with_events": checker.complete,
                "calls_broken": checker.broken,
                "open_calls_after": pipeline.open_calls,
                "hub_calls_held": len(hub._calls),
                "rss_after_100_mb": round(baseline or 0.0, 1),
                "rss_end_mb": round(end, 1),
                "rss_growth_mb": round(end - (baseline or end), 1),
                "calls_per_s": round(args.calls / elapsed, 1),
                "machine": machine(),
            }
        )
    )
    return 0 if checker.complete == args.calls else 1


if __name__ == "__main__":
    raise SystemExit(main())
