"""Benchmark: a call shaped like a real one (``fixtures/conv*``), per-party and mixed.

Feeds the fixture's two legs (one call, two ``PARTY`` streams) and their sum (a
second call, one diarized ``MIXED`` stream, labels ``agent``/``customer``)
through one live pipeline with the real model, at call pace (``--fast``: as fast
as the ASR workers take it).  For each stream kind it prints on stderr, and in
the JSON object on the last stdout line: ``wer`` live and ``oracle_wer`` (the
same model on each reference utterance cut alone), ``final_latency_p50_s`` /
``p95_s`` (end of each reference utterance -> the last final holding its words,
call clock), ``doubled_short_words`` (words said once in a short answer but
heard more often; ``doubled_words``: the same over every utterance),
``span_words`` (words heard in DTMF, hold music or line noise), ``dtmf_digits``
(from ``dtmf`` events, empty while the pipeline has none); for mixed also
``attribution`` (share of words whose speaker label is the party that spoke at
the word's time; ``attribution_swapped``: the same with the two role labels
swapped, i.e. speakers told apart but named wrong).  ``targets`` says pass/fail
per target.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from bench.realtime import Collector, machine, pct
from listenin.replay import PartyAudio, frames, load_party, mix_parties
from listenin.wer import edit_distance, normalize
from models import resolve
from pipeline.asr import WhisperConfig, WhisperEngine
from pipeline.diarize import DiarizeConfig
from pipeline.party import StreamConfig
from pipeline.runtime import Pipeline, PipelineConfig
from records.events import Event, TranscriptFinal

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ROLES = ("agent", "customer")
KINDS = ("party", "mixed")
EDGE_S = 0.15  # a word this close to an utterance still belongs to it


@dataclass(frozen=True, slots=True)
class Heard:
    """One normalised word of a final, with its call-clock time and label."""

    text: str
    start: float  # s, call clock
    end: float  # s, call clock
    speaker: str | None  # diarized label (mixed), else None
    emitted_at: float  # s, call clock, of its final

    @property
    def mid(self) -> float:
        return (self.start + self.end) / 2


def heard_words(finals: list[TranscriptFinal]) -> list[Heard]:
    """Every word of the finals, normalised (``1984`` -> four words sharing its time).

    A final without word times spreads its words evenly over its span.
    """
    out: list[Heard] = []
    for f in finals:
        timed = [(w.text, w.start, w.end, w.speaker) for w in f.words]
        if not timed:
            toks = normalize(f.text)
            step = (f.end - f.start) / max(len(toks), 1)
            timed = [
                (t, f.start + i * step, f.start + (i + 1) * step, None) for i, t in enumerate(toks)
            ]
        for text, start, end, speaker in timed:
            for tok in normalize(text):
                out.append(Heard(tok, start, end, speaker or f.speaker, f.emitted_at))
    return sorted(out, key=lambda w: w.mid)


def view(ref: dict, party: str | None) -> dict:
    """The reference as one stream hears it: one party's leg, or (None) the whole call."""
    keep = [u for u in ref["utterances"] if party is None or u["party"] == party]
    spans = [s for s in ref.get("spans", []) if party is None or s["party"] == party]
    dtmf = [d for d in ref.get("dtmf", []) if party is None or d["party"] == party]
    return {"utterances": sorted(keep, key=lambda u: u["start"]), "spans": spans, "dtmf": dtmf}


def distance(u: dict, t: float) -> float:
    return float(max(u["start"] - t, t - u["end"], 0.0))


def assign(ref: dict, words: list[Heard]) -> tuple[list[list[Heard]], list[Heard]]:
    """Each word to its nearest reference utterance (where two overlap, the one that says
    it: "please" at 4.3 s is the agent's, not the customer's whose turn ends at 4.5 s), or
    to the non-speech span it lies in."""
    utts = ref["utterances"]
    said = [set(normalize(u["text"])) for u in utts]
    per_utt: list[list[Heard]] = [[] for _ in utts]
    in_spans: list[Heard] = []
    for w in words:
        near = min(
            range(len(per_utt)),
            key=lambda i: (max(distance(utts[i], w.mid), EDGE_S), w.text not in said[i],
                           distance(utts[i], w.mid)),
        )  # fmt: skip
        in_span = any(s["start"] <= w.mid <= s["end"] for s in ref["spans"])
        if in_span and distance(ref["utterances"][near], w.mid) > EDGE_S:
            in_spans.append(w)
        else:
            per_utt[near].append(w)
    return per_utt, in_spans


def doubled(reference: str, words: list[str]) -> int:
    """Words heard more often than the reference says them (``one one`` for ``one``)."""
    ref = normalize(reference)
    return sum(max(0, words.count(w) - ref.count(w)) for w in set(ref))


@dataclass(frozen=True, slots=True)
class Measure:
    """Raw counts of one stream against its reference view; :func:`combine` adds them."""

    ref_words: int
    edits: int  # word edits, finals vs reference
    latencies: tuple[float, ...]  # s, utterance end -> last final holding its words
    utterances: int
    doubled_short: int
    doubled_all: int  # the same over every utterance (repeated phrases)
    span_words: tuple[str, ...]  # heard in DTMF, music or noise
    labels: tuple[tuple[str | None, str], ...]  # (speaker label, true party) per word


def measure(ref: dict, finals: list[TranscriptFinal]) -> Measure:
    """Score one stream's finals; ``ref`` is a :func:`view` of the reference."""
    words = heard_words(finals)
    per_utt, in_spans = assign(ref, words)
    pairs = list(zip(ref["utterances"], per_utt, strict=True))
    r = [w for u in ref["utterances"] for w in normalize(u["text"])]
    return Measure(
        ref_words=len(r),
        edits=edit_distance(r, [w.text for w in words]),
        latencies=tuple(max(w.emitted_at for w in ws) - u["end"] for u, ws in pairs if ws),
        utterances=len(pairs),
        doubled_short=sum(
            doubled(u["text"], [w.text for w in ws]) for u, ws in pairs if u.get("kind") == "short"
        ),
        doubled_all=sum(doubled(u["text"], [w.text for w in ws]) for u, ws in pairs),
        span_words=tuple(w.text for w in in_spans),
        labels=tuple((w.speaker, u["party"]) for u, ws in pairs for w in ws),
    )


def per_utterance(ref: dict, finals: list[TranscriptFinal], oracle: list[list[str]]) -> list[str]:
    """One line per reference utterance: its end, latency to its last final, heard words;
    where the live or the oracle's words differ from the reference, each in full with its
    edit count, and the reference's words."""
    per_utt, _ = assign(ref, heard_words(finals))
    out = []
    for u, ws, hyp in zip(ref["utterances"], per_utt, oracle, strict=True):
        late = f"+{max(w.emitted_at for w in ws) - u['end']:.2f}" if ws else "  --"
        heard = [w.text for w in ws]
        out.append(f"{u['party'][:5]} {u['end']:6.2f} {late:>6} {u['text'][:40]!r} | "
                   f"{' '.join(heard)[:60]}")  # fmt: skip
        said = normalize(u["text"])
        for name, words in (("live", heard), ("oracle", hyp)):
            if words != said:  # where either differs from the reference: all three in full
                out.append(f"{name:>20} {edit_distance(said, words)} edits: {' '.join(words)}")
        if heard != said or hyp != said:
            out.append(f"{'reference':>20}: {' '.join(said)}")
    return out


def combine(ms: list[Measure]) -> Measure:
    return Measure(
        sum(m.ref_words for m in ms),
        sum(m.edits for m in ms),
        tuple(x for m in ms for x in m.latencies),
        sum(m.utterances for m in ms),
        sum(m.doubled_short for m in ms),
        sum(m.doubled_all for m in ms),
        tuple(x for m in ms for x in m.span_words),
        tuple(x for m in ms for x in m.labels),
    )


def summary(m: Measure, oracle: Measure, labelled: bool) -> dict:
    """The printed figures of one stream kind (``oracle``: the same, decoded offline)."""
    out: dict = {
        "wer": round(m.edits / max(m.ref_words, 1), 4),
        "oracle_wer": round(oracle.edits / max(oracle.ref_words, 1), 4),
        "final_latency_p50_s": pct(list(m.latencies), 50),
        "final_latency_p95_s": pct(list(m.latencies), 95),
        "utterances_heard": f"{len(m.latencies)}/{m.utterances}",
        "doubled_short_words": m.doubled_short,
        "doubled_words": m.doubled_all,
        "span_words": len(m.span_words),
        "span_text": " ".join(m.span_words)[:200],
    }
    if labelled:
        swap = dict(zip(ROLES, ROLES[::-1], strict=True))
        right = sum(s == p for s, p in m.labels)
        swapped = sum(swap.get(s or "") == p for s, p in m.labels)
        out["attribution"] = round(right / len(m.labels), 4) if m.labels else None
        # the same with the two role labels swapped: clustering right, naming wrong
        out["attribution_swapped"] = round(swapped / len(m.labels), 4) if m.labels else None
    return out


def dtmf_digits(events: list[Event]) -> str:
    """Digits of ``dtmf`` events, in order; empty while the pipeline emits none."""
    got = [e for e in events if getattr(e, "type", None) == "dtmf"]
    got.sort(key=lambda e: float(getattr(e, "start", getattr(e, "emitted_at", 0.0))))
    return "".join(str(getattr(e, "digit", getattr(e, "digits", "?"))) for e in got)


def oracle(engine: WhisperEngine, ref: dict, audio: PartyAudio) -> list[list[str]]:
    """The same model on each reference utterance of ``ref``, cut alone from ``audio``:
    each one's normalised words."""
    out = []
    for u in ref["utterances"]:
        a, b = int(u["start"] * audio.sample_rate), int(u["end"] * audio.sample_rate)
        pcm = soxr.resample(audio.pcm[a:b].astype(np.float32) / 32768, audio.sample_rate, 16000)
        out.append(normalize(engine.transcribe(pcm, word_timestamps=False).text))
    return out


def scored(ref: dict, hyps: list[list[str]]) -> Measure:
    """The oracle's words as a :class:`Measure` (edits only)."""
    r = [w for u in ref["utterances"] for w in normalize(u["text"])]
    hyp = [w for h in hyps for w in h]
    return Measure(len(r), edit_distance(r, hyp), (), len(r), 0, 0, (), ())


def targets(result: dict) -> dict:
    """Pass/fail per target of issue 14."""
    out = {}
    if "mixed" in result:
        out["mixed_attribution_ge_90pct"] = (result["mixed"].get("attribution") or 0.0) >= 0.9
    for kind, r in ((k, result[k]) for k in KINDS if k in result):
        p95 = r["final_latency_p95_s"]
        out[f"{kind}_final_p95_le_1.5s"] = p95 is not None and p95 <= 1.5
        out[f"{kind}_wer_within_10pct_of_oracle"] = r["wer"] <= r["oracle_wer"] * 1.1 + 1e-9
        out[f"{kind}_no_doubled_short_answers"] = r["doubled_short_words"] == 0
        out[f"{kind}_no_text_in_dtmf_music_noise"] = r["span_words"] == 0
    return out


def drive(pipeline: Pipeline, calls: dict[str, list[PartyAudio]], fast: bool) -> None:
    """All calls on one clock: at call pace, or as fast as the ASR workers take it."""
    schedule = sorted(
        (item for call, parties in calls.items() for item in frames(call, parties)),
        key=lambda x: x[0],
    )
    start, shown = time.monotonic(), 0.0
    for t, frame in schedule:
        if fast:
            pipeline.pool.wait_below(max(2, pipeline.config.asr_workers * 2))
        elif (delay := start + t - time.monotonic()) > 0:
            time.sleep(delay)
        pipeline.push(frame)
        if t - shown >= 10:
            shown = t
            print(f"  t={t:5.1f} s", file=sys.stderr, flush=True)
    for call, parties in calls.items():
        for p in parties:
            pipeline.end_party(call, p.party)
    pipeline.pool.wait_idle()
    for call in calls:
        pipeline.end_call(call)
    pipeline.pool.wait_idle()


def run(args: argparse.Namespace) -> dict:
    ref = json.loads((FIXTURES / f"{args.fixture}.json").read_text())
    parties = [load_party(p, FIXTURES / f) for p, f in ref["parties"].items()]
    mixed = mix_parties(parties)
    engine = WhisperEngine(resolve(args.model), WhisperConfig(num_workers=args.workers))
    events = Collector()
    config = PipelineConfig(StreamConfig(diarize=DiarizeConfig(roles=ROLES)), args.workers)
    pipeline = Pipeline(engine, events, config)
    print(f"{args.fixture}: {ref['duration']:.1f} s, per-party and mixed", file=sys.stderr)
    kinds = KINDS if args.only is None else (args.only,)
    calls = {"conv-party": parties, "conv-mixed": [mixed]}
    drive(pipeline, {f"conv-{k}": calls[f"conv-{k}"] for k in kinds}, args.fast)
    result: dict = {}
    for kind in kinds:
        call = f"conv-{kind}"
        evs = [e for e in events.events if getattr(e, "call_id", None) == call]
        finals = [e for e in evs if isinstance(e, TranscriptFinal) and e.text]
        for f in sorted(finals, key=lambda f: f.start):
            print(
                f"  {kind} [{f.start:5.1f}] {f.speaker or f.party}: {f.text[:70]}", file=sys.stderr
            )
        streams = parties if kind == "party" else [mixed]
        views = {s.party: view(ref, s.party if kind == "party" else None) for s in streams}
        mine = {s.party: [f for f in finals if f.party == s.party] for s in streams}
        live = combine([measure(views[s.party], mine[s.party]) for s in streams])
        hyps = {s.party: oracle(engine, views[s.party], s) for s in streams}
        if args.per_utterance:
            for s in streams:
                for line in per_utterance(views[s.party], mine[s.party], hyps[s.party]):
                    print(f"  {kind} {line}", file=sys.stderr)
        offline = combine([scored(views[s.party], hyps[s.party]) for s in streams])
        r = summary(live, offline, labelled=kind == "mixed")
        r["dtmf_digits"] = dtmf_digits(evs)
        r["dtmf_expected"] = "".join(d["digit"] for d in ref.get("dtmf", []))
        result[kind] = r
    pipeline.close()
    result["targets"] = targets(result)
    result.update({"fixture": args.fixture, "model": args.model, "paced": not args.fast,
                   "machine": machine()})  # fmt: skip
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fixture", default="conv")
    p.add_argument("--model", default="tiny.en")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    p.add_argument("--fast", action="store_true", help="not paced: latencies are not live-like")
    p.add_argument("--only", choices=KINDS, help="run one stream kind (default: both)")
    p.add_argument("-v", "--per-utterance", action="store_true", help="print each latency")
    result = run(p.parse_args())
    for kind in (k for k in KINDS if k in result):
        print(f"{kind}: {json.dumps(result[kind])}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
