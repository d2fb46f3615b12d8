"""Benchmark: speaker labels on a mixed call (both parties summed into one stream).

Mixes the fixture's two real voices (call2: Allison Smith's prompts as the
agent, a LibriVox reader as the customer; ``--fixture quickturns``: the same
voices taking quick turns with 0-300 ms gaps and some overlaps,
``fixtures/quickturns.py``) into one mono stream and runs it
through the live pipeline with the real model, the platform saying the agent
speaks first (labels ``agent`` / ``customer``).  Prints on stderr, and as the
last line on stdout one JSON object: ``words_right_speaker`` (share of final
words whose label is the party that spoke them, by the reference times),
``speakers_found``, ``first_label_in_time`` (for each party, whether its label
appeared no later than its first final, with both call-clock emission times:
live-like only with ``--realtime``, else the replay runs ahead of the ASR), and
``diarize_cpu_percent`` (CPU of the diarization stage, % of one core for one
mixed call: the same stream with and without the diarizer, VAD and resampler
included in both, no ASR), with ``windows``, ``windows_per_s`` (embeddings per
second of audio) and ``ms_per_window``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.realtime import Collector, machine
from fixtures.quickturns import quick_turns
from listenin.replay import PartyAudio, frames, load_party, mix_parties, replay
from models import resolve
from models.speaker import load_encoder
from pipeline.asr import WhisperConfig, WhisperEngine
from pipeline.diarize import DiarizeConfig
from pipeline.party import PartyStream, StreamConfig
from pipeline.runtime import Pipeline, PipelineConfig
from records.events import TranscriptFinal
from records.kinds import StreamKind

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ROLES = ("agent", "customer")


def true_party(ref: dict, t_s: float) -> str:
    """The party whose reference utterance holds ``t_s`` (else the nearest one)."""

    def dist(u: dict) -> float:
        return max(u["start"] - t_s, t_s - u["end"], 0.0)

    return str(min(ref["utterances"], key=dist)["party"])


Truth = Callable[[float], "str | None"]


def load(fixture: str) -> tuple[PartyAudio, float, Truth]:
    """The mixed stream, its duration (s) and who speaks when (None: nobody)."""
    if fixture == "quickturns":
        conv = quick_turns()
        levels = conv.levels()
        mixed = PartyAudio("mixed", conv.sample_rate, conv.mixed, StreamKind.MIXED)
        return mixed, mixed.duration_s, lambda t: conv.who(t, levels)
    ref = json.loads((FIXTURES / f"{fixture}.json").read_text())
    parties = [load_party(p, FIXTURES / f) for p, f in ref["parties"].items()]
    return mix_parties(parties), float(ref["duration"]), lambda t: true_party(ref, t)


def score(truth: Truth, finals: list[TranscriptFinal]) -> dict:
    right = total = 0
    first_final: dict[str, float] = {}
    first_label: dict[str, float] = {}
    for f in sorted(finals, key=lambda f: f.emitted_at):
        if f.speaker is not None:
            first_label.setdefault(f.speaker, f.emitted_at)
        spoken = [w for w in f.words if any(c.isalnum() for c in w.text)]
        for w in spoken:
            party = truth((w.start + w.end) / 2)
            if party is None:
                continue  # between the references' speech: no one to be right about
            right += (w.speaker or f.speaker) == party
            total += 1
            first_final.setdefault(party, f.emitted_at)
    in_time = {
        p: {
            "first_final_at_s": round(t, 2),
            "label_at_s": round(first_label[p], 2) if p in first_label else None,
            "ok": p in first_label and first_label[p] <= t,
        }
        for p, t in first_final.items()
    }
    return {"words": total, "words_right_speaker": right / total if total else None,
            "first_label_in_time": in_time}  # fmt: skip


def cpu_cost(mixed: PartyAudio, duration_s: float) -> dict:
    """CPU seconds of the stream with and without its diarizer, per second of call."""
    encoder = load_encoder()
    spent = {}
    windows = 0
    for label, embed in (("plain", None), ("diarized", encoder.embed_windows)):
        stream = PartyStream(
            "bench", "mixed", mixed.sample_rate, StreamConfig(), embed, StreamKind.MIXED
        )
        t0 = time.process_time()
        for t, frame in frames("bench", [mixed]):
            stream.push(frame, t)
        stream.flush(duration_s)
        spent[label] = time.process_time() - t0
        if stream.diarizer is not None:
            windows = stream.diarizer.windows_embedded
    extra = spent["diarized"] - spent["plain"]
    return {
        "diarize_cpu_percent": round(100 * extra / duration_s, 2),
        "windows": windows,
        "windows_per_s": round(windows / duration_s, 2),
        "ms_per_window": round(1000 * extra / max(windows, 1), 1),
    }


def run(args: argparse.Namespace) -> dict:
    mixed, duration, truth = load(args.fixture)
    engine = WhisperEngine(resolve(args.model), WhisperConfig(num_workers=args.workers))
    events = Collector()
    config = PipelineConfig(StreamConfig(diarize=DiarizeConfig(roles=ROLES)), args.workers)
    pipeline = Pipeline(engine, events, config)
    print(f"mixed {args.fixture}: {duration:.1f} s, two parties in one stream", file=sys.stderr)
    replay(pipeline, "mixed-call", [mixed], realtime=args.realtime)
    pipeline.close()
    finals = [e for e in events.events if isinstance(e, TranscriptFinal) and e.text]
    for f in sorted(finals, key=lambda f: f.start):
        print(f"  [{f.start:5.1f}] {f.speaker}: {f.text[:70]}", file=sys.stderr)
    result = score(truth, finals)
    speakers = {f.speaker for f in finals} | {w.speaker for f in finals for w in f.words}
    result["speakers_found"] = len(speakers - {None})
    result["words_right_speaker"] = round(result["words_right_speaker"] or 0.0, 4)
    result.update(cpu_cost(mixed, duration))
    result.update({"fixture": args.fixture, "model": args.model, "realtime": args.realtime})
    result["machine"] = machine()
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--fixture",
        default="call2",
        help="call2 (real voices), quickturns (call2's voices, quick turns) or call1 (espeak-ng)",
    )
    p.add_argument("--model", default="tiny.en")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    p.add_argument(
        "--realtime", action="store_true", help="feed at call pace (emission times as live)"
    )
    result = run(p.parse_args())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
