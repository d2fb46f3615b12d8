"""Benchmark: N concurrent fixture calls at real-time pace through one pipeline.

Prints progress and a summary on stderr and, as the last line on stdout, one
JSON object: calls, party_streams, final_latency_p50_s / p95_s (end of a
reference utterance -> its final event, call clock), first_partial_p50_s (start
of speech -> first text), wer (pipeline finals), oracle_wer (the same model on
each reference utterance cut offline), wer_vs_oracle (relative), cpu_percent
(of one core), idle_call_cpu_percent, rss_mb, dropped_frames, model, machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import threading
import time
from pathlib import Path

import numpy as np
import soxr

from listenin.replay import frames, load_party
from listenin.wer import edit_distance, normalize
from models import resolve
from pipeline.asr import WhisperConfig, WhisperEngine
from pipeline.party import StreamConfig
from pipeline.runtime import Pipeline, PipelineConfig
from pipeline.utterance import StreamingConfig
from records.events import Event, TranscriptFinal, TranscriptPartial
from records.frames import AudioFrame

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


class Collector:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self.lock:
            self.events.append(event)


def feed_realtime(pipeline: Pipeline, schedule: list[tuple[float, AudioFrame]]) -> int:
    """Push frames at their due wall time; returns frames pushed > 100 ms late."""
    start = time.monotonic()
    late = 0
    done = 0
    for t, frame in schedule:
        delay = start + t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -0.1:
            late += 1
        pipeline.push(frame)
        if t - done >= 10:
            done = int(t)
            print(f"  t={t:5.1f} s", file=sys.stderr, flush=True)
    return late


def run(args: argparse.Namespace) -> dict:
    ref = json.loads((FIXTURES / f"{args.fixture}.json").read_text())
    parties = [load_party(p, FIXTURES / f) for p, f in ref["parties"].items()]
    engine = WhisperEngine(resolve(args.model), WhisperConfig(num_workers=args.workers))
    events = Collector()
    interval = args.partial_interval_ms
    streaming = StreamingConfig(partials=interval > 0, partial_interval_ms=max(interval, 100))
    config = PipelineConfig(stream=StreamConfig(streaming=streaming), asr_workers=args.workers)
    pipeline = Pipeline(engine, events, config)

    schedule: list[tuple[float, AudioFrame]] = []
    for i in range(args.calls):
        offset = i * args.stagger_s
        schedule += [(t + offset, f) for t, f in frames(f"call-{i}", parties)]
    schedule.sort(key=lambda x: x[0])
    print(
        f"{args.calls} calls x {len(parties)} parties, {ref['duration']:.0f} s each",
        file=sys.stderr,
    )
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    late = feed_realtime(pipeline, schedule)
    for i in range(args.calls):
        pipeline.end_call(f"call-{i}")
    pipeline.pool.wait_idle()
    cpu_pct = 100 * (cpu_seconds() - cpu0) / (time.monotonic() - wall0)

    latencies: list[float] = []
    first_text: list[float] = []
    edits = words = 0
    for i in range(args.calls):
        call = f"call-{i}"
        evs = [e for e in events.events if getattr(e, "call_id", None) == call]
        finals = [e for e in evs if isinstance(e, TranscriptFinal) and e.text]
        texts = [e for e in evs if isinstance(e, (TranscriptFinal, TranscriptPartial)) and e.text]
        for u in ref["utterances"]:
            mine = [
                f
                for f in finals
                if f.party == u["party"] and f.start < u["end"] and u["start"] < f.end
            ]
            if mine:
                latencies.append(max(f.emitted_at for f in mine) - u["end"])
            heard = [
                e.emitted_at
                for e in texts
                if e.party == u["party"] and e.start < u["end"] and u["start"] < e.end
            ]
            if heard:
                first_text.append(min(heard) - u["start"])
        for party in ref["parties"]:
            r = normalize(" ".join(u["text"] for u in ref["utterances"] if u["party"] == party))
            h = normalize(
                " ".join(f.text for f in sorted(finals, key=lambda f: f.start) if f.party == party)
            )
            edits += edit_distance(r, h)
            words += len(r)
    wer = edits / words
    oracle = oracle_wer(engine, ref, {p.party: p for p in parties})
    idle = idle_cost(pipeline, args.idle_s) if args.idle_s > 0 else None
    pipeline.close()
    dropped = pipeline.stats.dropped_frames + pipeline.stats.finals_refused
    return {
        "calls": args.calls,
        "party_streams": args.calls * len(parties),
        "final_latency_p50_s": pct(latencies, 50),
        "final_latency_p95_s": pct(latencies, 95),
        "first_partial_p50_s": pct(first_text, 50),
        "utterances_heard": f"{len(latencies)}/{args.calls * len(ref['utterances'])}",
        "wer": round(wer, 4),
        "oracle_wer": round(oracle, 4),
        "wer_vs_oracle": round(wer / oracle - 1, 4) if oracle else None,
        "cpu_percent": round(cpu_pct, 1),
        "idle_call_cpu_percent": idle,
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "dropped_frames": dropped,
        "late_frames": late,
        "model": args.model,
        "fixture": args.fixture,
        "machine": machine(),
    }


def oracle_wer(engine: WhisperEngine, ref: dict, parties: dict) -> float:
    """The same model on each reference utterance cut at its reference times."""
    edits = words = 0
    for party in ref["parties"]:
        hyp = []
        audio = parties[party]
        for u in (u for u in ref["utterances"] if u["party"] == party):
            a, b = int(u["start"] * audio.sample_rate), int(u["end"] * audio.sample_rate)
            pcm = audio.pcm[a:b].astype(np.float32) / 32768
            hyp.append(
                engine.transcribe(
                    soxr.resample(pcm, audio.sample_rate, 16000), word_timestamps=True
                ).text
            )
        r = normalize(" ".join(u["text"] for u in ref["utterances"] if u["party"] == party))
        edits += edit_distance(r, normalize(" ".join(hyp)))
        words += len(r)
    return edits / words


def idle_cost(pipeline: Pipeline, seconds: float) -> float:
    """CPU share of one call whose two parties send only line hiss."""
    rng = np.random.default_rng(0)
    schedule = []
    for party in ("agent", "customer"):
        for k in range(int(seconds * 50)):
            pcm = rng.normal(0, 60, 160).astype(np.int16)
            schedule.append((k * 0.02, AudioFrame("idle", party, 8000, k * 160, pcm)))
    schedule.sort(key=lambda x: x[0])
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    feed_realtime(pipeline, schedule)
    return round(100 * (cpu_seconds() - cpu0) / (time.monotonic() - wall0), 2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=4)
    p.add_argument("--fixture", default="call1", help="call1 (espeak-ng) or call2 (real speech)")
    p.add_argument("--model", default="tiny.en")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    p.add_argument("--stagger-s", type=float, default=0.37, help="start offset between calls")
    p.add_argument("--partial-interval-ms", type=int, default=500, help="0: no partials")
    p.add_argument(
        "--idle-s", type=float, default=20.0, help="seconds of the idle-call probe (0: skip)"
    )
    args = p.parse_args()
    result = run(args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
