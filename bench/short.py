"""Short answers through the real ASR path: repeated words and WER.

Every item of ``fixtures/short_answers.*`` (real recorded digits, letters,
short words, digit strings) is resampled to 16 kHz in 20 ms frames, given to an
:class:`~pipeline.utterance.UtterancePolicy` as one VAD segment, and each
partial and final job it asks for is decoded by the real tiny.en engine, as the
worker pool does.  Prints, for partials and finals, the repeated words (a
reference word appearing more often than in the reference) and the WER.
Usage: ``python -m bench.short [-v] [--min-encode-ms N]``; ends with one JSON line.
Partial WER counts the words not yet heard as deletions.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from listenin.wer import edit_distance, normalize
from pipeline.asr import AsrEngine
from pipeline.jobs import JobKind
from pipeline.resample import Resampler
from pipeline.utterance import UtterancePolicy
from records.frames import AudioFrame

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass(frozen=True, slots=True)
class Decode:
    item: int
    kind: JobKind
    reference: tuple[str, ...]
    words: tuple[str, ...]  # normalised hypothesis

    @property
    def repeats(self) -> int:
        """Reference words said more often than in the reference ("4 4" for "four")."""
        ref, hyp = Counter(self.reference), Counter(self.words)
        return sum(max(0, hyp[w] - ref[w]) for w in ref)


def load() -> tuple[dict, np.ndarray]:
    doc = json.loads((FIXTURES / "short_answers.json").read_text())
    pcm = sf.read(FIXTURES / doc["file"], dtype="int16")[0]
    return doc, pcm


def decode_item(engine: AsrEngine, pcm: np.ndarray, rate: int) -> list[tuple[JobKind, str]]:
    """(kind, text) of every job the policy asks for on one short answer."""
    resampler = Resampler(rate, engine.sample_rate)
    policy = UtterancePolicy("short", "a", engine.sample_rate)
    policy.speech_start(0)
    jobs = []
    step = rate // 50
    for i in range(0, pcm.size, step):
        for frame in resampler.push(AudioFrame("short", "a", rate, i, pcm[i : i + step])):
            jobs += policy.audio(frame, 0.0)
    for frame in resampler.flush():
        jobs += policy.audio(frame, 0.0)
    jobs += policy.speech_end(policy.ring.end, 0.0)
    out = []
    for job in jobs:
        final = job.kind is JobKind.FINAL
        result = engine.transcribe(job.audio, word_timestamps=final, partial=not final)
        out.append((job.kind, result.text))
    return out


def run(engine: AsrEngine) -> list[Decode]:
    doc, pcm = load()
    decodes = []
    for n, item in enumerate(doc["items"]):
        ref = tuple(normalize(" ".join(item["words"])))
        for kind, text in decode_item(engine, pcm[item["start"] : item["end"]], 8000):
            decodes.append(Decode(n, kind, ref, tuple(normalize(text))))
    return decodes


def summary(decodes: list[Decode], kind: JobKind) -> tuple[int, int, float]:
    """(decodes, repeated words, WER) of one kind of decode."""
    sel = [d for d in decodes if d.kind is kind]
    errors = sum(edit_distance(list(d.reference), list(d.words)) for d in sel)
    ref_words = sum(len(d.reference) for d in sel)
    return len(sel), sum(d.repeats for d in sel), errors / max(ref_words, 1)


def main() -> None:
    import argparse
    import time

    from models import resolve
    from pipeline.asr import WhisperConfig, WhisperEngine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-encode-ms", type=int, default=WhisperConfig().min_encode_ms,
                        help="encode floor of finals")  # fmt: skip
    parser.add_argument("--partial-min-encode-ms", type=int,
                        default=WhisperConfig().partial_min_encode_ms,
                        help="encode floor of partials")  # fmt: skip
    parser.add_argument("-v", "--verbose", action="store_true", help="print every decode")
    args = parser.parse_args()
    config = WhisperConfig(num_workers=1, min_encode_ms=args.min_encode_ms,
                           partial_min_encode_ms=args.partial_min_encode_ms)  # fmt: skip
    engine = WhisperEngine(resolve("tiny.en"), config)
    t0 = time.perf_counter()
    decodes = run(engine)
    elapsed = time.perf_counter() - t0
    result: dict[str, object] = {"bench": "short", "min_encode_ms": args.min_encode_ms,
                                 "partial_min_encode_ms": args.partial_min_encode_ms}  # fmt: skip
    for d in decodes if args.verbose else ():
        mark = " REPEAT" if d.repeats else ""
        print(f"{d.item:2d} {d.kind:7s} {' '.join(d.reference):24s} | {' '.join(d.words)}{mark}")
    for kind in (JobKind.PARTIAL, JobKind.FINAL):
        n, repeats, wer = summary(decodes, kind)
        result[kind.value] = {"decodes": n, "repeated_words": repeats, "wer": round(wer, 3)}
    result["ms_per_decode"] = round(1000 * elapsed / max(len(decodes), 1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
