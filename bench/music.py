"""Benchmark: hold music kept from the decoder, and speech never taken for music.

Music: 60 s of each track of Debian's ``asterisk-moh-opsound-wav`` (at 8 kHz,
peak -9 dBFS, as on a telephone leg) goes through the pipeline with the real
model, with the music check on and off (``--keep-music``); per track it prints
the VAD's segment seconds, the decoders' seconds and the words that came out.
Speech: every committed speech fixture, and (when installed) 120 random prompts
of each Debian Asterisk sound set and 60 LibriVox clips of
``pocketsphinx-testdata``, through the VAD alone: the segments judged music
(must be none) and the share of voiced frames the check took.  Tracks and sets
not installed are skipped.  Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from bench.conversation import drive
from bench.realtime import Collector, machine
from listenin.replay import PartyAudio
from models import resolve
from pipeline.asr import WhisperConfig, WhisperEngine
from pipeline.music import MusicConfig
from pipeline.party import StreamConfig
from pipeline.runtime import Pipeline, PipelineConfig
from pipeline.vad import SpeechEnd, VadConfig, VadSegmenter
from records.events import TranscriptFinal

RATE = 8000
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MOH = Path("/usr/share/asterisk/moh")
SOUNDS = Path("/usr/share/asterisk/sounds")
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
SPEECH_FIXTURES = ("conv", "call1", "call2", "card")


def load(path: Path) -> np.ndarray:
    """Mono int16 at 8 kHz."""
    x, rate = sf.read(path, dtype="float32", always_2d=True)
    x = soxr.resample(x.mean(axis=1), rate, RATE) if rate != RATE else x.mean(axis=1)
    return (np.clip(x, -1, 1) * 32767).astype(np.int16)


def segments(pcm: np.ndarray, check: bool = True) -> tuple[list[SpeechEnd], int, int]:
    """The VAD's segments, its voiced frames and the frames the check called music."""
    vad = VadSegmenter(RATE, VadConfig(music=MusicConfig(enabled=check)))
    ends = [e for i in range(0, pcm.size, 160) for e in vad.push(pcm[i : i + 160], i)]
    ends += vad.flush()
    return [e for e in ends if isinstance(e, SpeechEnd)], vad.voiced_frames, vad.music.music_frames


def speech_sets() -> dict[str, np.ndarray]:
    """Speech to check: the fixtures' legs (hold music cut out), the Debian voices."""
    out: dict[str, np.ndarray] = {}
    for name in SPEECH_FIXTURES:
        ref = json.loads((FIXTURES / f"{name}.json").read_text())
        for party, file in ref["parties"].items():
            pcm = load(FIXTURES / file)
            for s in ref.get("spans", []):
                if s["party"] == party and s["kind"] == "music":
                    pcm[int(s["start"] * RATE) : int(s["end"] * RATE)] = 0
            out[f"{name}:{party}"] = pcm
    out["short_answers"] = load(FIXTURES / "short_answers.wav")
    rng = random.Random(1)
    for folder in sorted(p for p in SOUNDS.glob("*") if p.is_dir()):
        files = sorted(folder.glob("*.wav"))
        rng.shuffle(files)
        gaps = (0.05, 0.15, 0.3, 0.6)
        parts = [np.concatenate((load(f), np.zeros(int(RATE * rng.choice(gaps)), np.int16)))
                 for f in files[:120]]  # fmt: skip
        if parts:
            out[folder.name] = np.concatenate(parts)
    for f in sorted(LIBRIVOX.glob("**/*.wav"))[:60]:
        out[f"librivox:{f.stem}"] = load(f)
    return out


def music_track(engine: WhisperEngine, pcm: np.ndarray, check: bool) -> dict:
    events = Collector()
    vad = VadConfig(music=MusicConfig(enabled=check))
    pipeline = Pipeline(engine, events, PipelineConfig(StreamConfig(vad=vad), 2))
    try:
        drive(pipeline, {"moh": [PartyAudio("agent", RATE, pcm)]}, fast=True)
        decode_s = pipeline.pool.decode_seconds
    finally:
        pipeline.close()
    text = " ".join(e.text for e in events.events if isinstance(e, TranscriptFinal) and e.text)
    ends, _, _ = segments(pcm, check)
    seconds = sum(e.end - e.start for e in ends) / RATE
    return {"segment_s": round(seconds, 1), "decode_s": round(decode_s, 1),
            "words": len(text.split()), "text": text[:80]}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny.en")
    p.add_argument("--seconds", type=float, default=60.0, help="of each hold-music track")
    args = p.parse_args()
    result: dict = {"bench": "music", "model": args.model, "machine": machine()}
    judged = voiced = taken = 0
    speech_s = 0.0
    for name, pcm in speech_sets().items():
        ends, v, m = segments(pcm)
        music = [e for e in ends if e.music]
        judged += len(music)
        voiced, taken = voiced + v, taken + m
        speech_s += sum(e.end - e.start for e in ends) / RATE
        if music:
            at = music[0].start / RATE
            print(f"  speech judged music: {name} at {at:.2f} s", file=sys.stderr)
    result["speech"] = {
        "segments_s": round(speech_s),
        "segments_judged_music": judged,
        "voiced_frames_taken_pct": round(100 * taken / max(voiced, 1), 3),
    }
    print(f"speech: {json.dumps(result['speech'])}", file=sys.stderr)
    tracks = sorted(MOH.glob("*.wav"))
    if tracks:
        engine = WhisperEngine(resolve(args.model), WhisperConfig(num_workers=2))
        result["music"] = {}
        for track in tracks:
            pcm = load(track)[5 * RATE : int((5 + args.seconds) * RATE)]
            pcm = (pcm / max(1, np.abs(pcm).max()) * 0.35 * 32767).astype(np.int16)
            row = {"on": music_track(engine, pcm, True), "off": music_track(engine, pcm, False)}
            result["music"][track.stem] = row
            print(f"{track.stem}: {json.dumps(row)}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
