"""Benchmark: sentence end -> final latency on real speech (call2), per party.

Sentence ends come from the model itself: each reference utterance is decoded
offline with word timings, and a word ending in ``. ? !`` (or an utterance's
last word) is a sentence end, one ending in ``,`` a clause end.  The call is
fed in call-clock order and, with ``--instant`` (the default), the ASR pool is
drained every ``--step-ms`` of audio: decodes take no call-clock time, so the
figures are the policy's own latency, the same on any machine (add the decode
time of a final for a live figure; ``--realtime`` paces the feed instead).
A sentence end's latency is the ``emitted_at`` of the first final of that
party reaching past it, minus its time.  ``--before`` runs the previous policy
(no streaming commit, soft VAD split past 8 s at a 240 ms pause).

Prints per party and overall p50/p95 of sentence-end and clause-end latency,
the first final of each turn longer than 5 s (from its start), WER of the
finals, commits, seams where a word repeats across two finals, decodes and
their seconds,
as one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import soxr

from bench.realtime import Collector, pct
from listenin.replay import frames, load_party
from listenin.wer import normalize, word_error_rate
from models import resolve
from pipeline.asr import WhisperConfig, WhisperEngine
from pipeline.commit import ABBREVIATIONS, CommitConfig, norm, timed
from pipeline.party import StreamConfig
from pipeline.runtime import Pipeline, PipelineConfig
from pipeline.vad import VadConfig
from records.events import TranscriptFinal

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def ends(engine: WhisperEngine, ref: dict, parties: dict) -> list[tuple[str, float, str, str]]:
    """``(party, time_s, "sentence" | "clause", word)`` from offline decodes of the utterances."""
    out = []
    for u in ref["utterances"]:
        audio = parties[u["party"]]
        a, b = int(u["start"] * audio.sample_rate), int(u["end"] * audio.sample_rate)
        pcm = soxr.resample(audio.pcm[a:b].astype(np.float32) / 32768, audio.sample_rate, 16000)
        words = timed(engine.transcribe(pcm, word_timestamps=True).words, u["start"])
        for i, w in enumerate(words):
            mark = w.text.rstrip()[-1:]
            if i == len(words) - 1 or mark in ".?!" and w.key not in ABBREVIATIONS:
                out.append((u["party"], w.end, "sentence", w.key))
            elif mark == ",":
                out.append((u["party"], w.end, "clause", w.key))
    return out


def said(final: TranscriptFinal, key: str, at: float) -> bool:
    """Whether ``final`` has the word ``key`` ending within 1 s of ``at``."""
    return any(norm(w.text) == key and abs(w.end - at) < 1.0 for w in final.words)


def run(args: argparse.Namespace) -> dict:
    ref = json.loads((FIXTURES / f"{args.fixture}.json").read_text())
    parties = [load_party(p, FIXTURES / f) for p, f in ref["parties"].items()]
    engine = WhisperEngine(resolve(args.model), WhisperConfig(num_workers=args.workers))
    stream = StreamConfig()
    if args.before:
        stream = replace(
            stream,
            vad=VadConfig(soft_max_ms=8000, soft_pause_ms=240),
            commit=CommitConfig(enabled=False),
        )
    if args.soft_pause_ms or args.force_ms:
        vad = replace(stream.vad, soft_pause_ms=args.soft_pause_ms or stream.vad.soft_pause_ms)
        commit = replace(stream.commit, force_ms=args.force_ms or stream.commit.force_ms)
        stream = replace(stream, vad=vad, commit=commit)
    events = Collector()
    pipeline = Pipeline(engine, events, PipelineConfig(stream=stream, asr_workers=args.workers))
    t0 = time.monotonic()
    step = args.step_ms / 1000
    next_drain = 0.0
    for t, frame in frames("c", parties):
        if args.realtime:
            time.sleep(max(0.0, t0 + t - time.monotonic()))
        elif t >= next_drain:
            pipeline.pool.wait_idle()
            next_drain = t + step
        pipeline.push(frame)
    pipeline.pool.wait_idle()
    pipeline.end_call("c")
    pipeline.pool.wait_idle()
    pipeline.close()
    wall = time.monotonic() - t0
    finals = [e for e in events.events if isinstance(e, TranscriptFinal) and e.text]
    marks = ends(engine, ref, {p.party: p for p in parties})
    result: dict = {"policy": "before" if args.before else "commit", "fixture": args.fixture}
    for party in [*ref["parties"], "all"]:
        for kind in ("sentence", "clause"):
            lat = []
            for p, at, k, key in marks:
                if k != kind or party not in (p, "all"):
                    continue
                late = [f.emitted_at for f in finals if f.party == p and said(f, key, at)]
                late = late or [f.emitted_at for f in finals if f.party == p and f.end >= at - 0.3]
                if late:
                    lat.append(late[0] - at)
                    if args.verbose and party == "all":
                        print(f"{kind} {p} {at:6.2f} +{late[0] - at:.2f}", file=sys.stderr)
            result[f"{party}_{kind}_p50_s"] = pct(lat, 50)
            result[f"{party}_{kind}_p95_s"] = pct(lat, 95)
            result[f"{party}_{kind}_n"] = len(lat)
    first = []  # a turn's start -> its first final (whisper_streaming: ~3.3 s)
    for u in ref["utterances"]:
        heard = [f.emitted_at for f in finals if f.party == u["party"] and f.end > u["start"]]
        if heard and u["end"] - u["start"] > 5:
            first.append(min(heard) - u["start"])
    result["long_turn_first_final_p50_s"] = pct(first, 50)
    result["long_turn_first_final_max_s"] = round(max(first), 3) if first else None
    doubled = 0
    for party in ref["parties"]:
        mine = sorted((f for f in finals if f.party == party), key=lambda f: f.start)
        r = " ".join(u["text"] for u in ref["utterances"] if u["party"] == party)
        result[f"{party}_wer"] = round(word_error_rate(r, " ".join(f.text for f in mine)), 4)
        for a, b in zip(mine, mine[1:], strict=False):
            wa, wb = normalize(a.text), normalize(b.text)
            doubled += bool(wa and wb and wa[-1] == wb[0])
    result |= {
        "finals": len(finals),
        "commits": pipeline.stats.commits,
        "seams_with_repeated_word": doubled,
        "decode_s": round(pipeline.pool.decode_seconds, 1),
        "decodes": pipeline.pool.decodes,
        "wall_s": round(wall, 1),
    }
    if args.verbose:
        for f in sorted(finals, key=lambda f: (f.party, f.start)):
            print(f"{f.party[:5]} {f.start:6.2f}-{f.end:6.2f} @{f.emitted_at:6.2f} {f.text}",
                  file=sys.stderr)  # fmt: skip
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fixture", default="call2")
    p.add_argument("--model", default="tiny.en")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--before", action="store_true", help="the policy before streaming commits")
    p.add_argument("--realtime", action="store_true", help="pace the feed at real time")
    p.add_argument("--step-ms", type=int, default=100, help="drain the ASR every this much audio")
    p.add_argument("--soft-pause-ms", type=int, default=0, help="override VadConfig's")
    p.add_argument("--force-ms", type=int, default=0, help="override CommitConfig's")
    p.add_argument("-v", "--verbose", action="store_true", help="print the finals on stderr")
    print(json.dumps(run(p.parse_args())))


if __name__ == "__main__":
    main()
