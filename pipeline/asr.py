"""The speech recogniser behind a narrow adapter.

:class:`AsrEngine` is the protocol the pipeline uses: 16 kHz float32 audio in,
an :class:`AsrResult` with typed words out.  :class:`WhisperEngine` implements
it with faster-whisper / CTranslate2, encoding only the utterance (Whisper
normally pads every input to a 30 s window; CTranslate2 accepts a shorter mel,
which is several times faster on a CPU) padded to ``min_encode_ms`` (15 s: with a
shorter silent tail the decoder reads a short answer two or three times), and
guarding the decode with a length cap, n-gram collapse and the hallucination
checks of :mod:`pipeline.guards`.
One engine is shared by every stream; ``num_workers`` lets that many threads
decode at once.  The device (``cpu``, ``cuda`` or ``auto``) and compute type are
checked against what CTranslate2 reports on this machine (:func:`probe_device`)
before the model loads.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .guards import (
    GuardConfig,
    collapse_repeats,
    compression_ratio,
    rejection_reason,
    trim_loop,
)

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
DEVICES = ("cpu", "cuda", "auto")
DEFAULT_COMPUTE_TYPE = {"cpu": "int8", "cuda": "float16"}


@dataclass(frozen=True, slots=True)
class AsrWord:
    text: str
    start: float  # s from the start of the decoded audio
    end: float  # s from the start of the decoded audio
    probability: float


@dataclass(frozen=True, slots=True)
class AsrResult:
    text: str
    words: tuple[AsrWord, ...]
    no_speech_prob: float
    avg_logprob: float
    compression_ratio: float
    rejected: str | None = None  # reason when the guards dropped the decode


MUSIC = AsrResult("", (), 1.0, 0.0, 0.0, rejected="music")  # a segment of music, not decoded


class AsrEngine(Protocol):
    sample_rate: int

    def transcribe(
        self, audio: np.ndarray, *, word_timestamps: bool, partial: bool = False
    ) -> AsrResult: ...


@dataclass(frozen=True, slots=True)
class WhisperConfig:
    device: str = "cpu"  # "cpu", "cuda" or "auto" (cuda when CTranslate2 sees one)
    compute_type: str | None = None  # None: DEFAULT_COMPUTE_TYPE of the device
    cpu_threads: int = 1  # threads per decode
    num_workers: int = 2  # decodes that may run at once (one per core)
    language: str | None = "en"  # None: detect (multilingual models only)
    beam_size: int = 1
    pad_ms: int = 1000  # silence appended before encoding (helps the decoder end)
    tokens_per_s: float = 6.0  # decode length cap (plus 8 tokens)
    full_window: bool = False  # True: classic padded 30 s encode (slower)
    # a final's shorter encode is padded (log-mel zeros, as faster-whisper pads to 30 s) to
    # this: the decoder needs a long silent tail after the speech or it reads a short answer
    # two or three times over ("4 4" for "four"); 0 turns the floor off
    min_encode_ms: int = 15000
    # the same for partials: they are provisional and decoded twice a second per speaker,
    # so they keep a short encode (15 s costs ~10x the CPU of a 2 s one) but not under
    # 3 s: a 1 s "Hello" read "Hello? Hello?", and a repeat holds the streaming commit back
    # (bench.short: partial repeats 86 -> 58, 107 -> 110 ms a decode)
    partial_min_encode_ms: int = 3000

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.cpu_threads < 1 or self.num_workers < 1:
            raise ValueError("cpu_threads and num_workers must be >= 1")
        if self.beam_size < 1:
            raise ValueError("beam_size must be >= 1")
        if not 0 <= self.min_encode_ms <= 30000:
            raise ValueError("min_encode_ms must be in [0, 30000]")
        if not 0 <= self.partial_min_encode_ms <= 30000:
            raise ValueError("partial_min_encode_ms must be in [0, 30000]")


def pick_device(requested: str, cuda_devices: int) -> str:
    """The device a request means, given how many CUDA devices are visible:
    ``auto`` is cuda when there is one, else cpu; ``cuda`` without one is refused."""
    if requested not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {requested!r}")
    if requested == "auto":
        return "cuda" if cuda_devices > 0 else "cpu"
    if requested == "cuda" and cuda_devices < 1:
        raise ValueError("device 'cuda': no CUDA device is visible to CTranslate2 on this "
                         "machine (use cpu or auto)")  # fmt: skip
    return requested


def pick_compute_type(device: str, requested: str | None, supported: Collection[str]) -> str:
    """The compute type for ``device``: the one asked for if the device supports
    it, else the device's default (int8 on cpu, float16 on cuda)."""
    compute = requested or DEFAULT_COMPUTE_TYPE[device]
    if compute not in supported:
        raise ValueError(f"compute type {compute!r} is not supported on {device} "
                         f"(supported: {', '.join(sorted(supported))})")  # fmt: skip
    return compute


def probe_device(requested: str, compute_type: str | None) -> tuple[str, str]:
    """``(device, compute_type)`` resolved against this machine's CTranslate2;
    ``ValueError`` (one line) when it cannot work.  Logs the choice of ``auto``."""
    import ctranslate2

    cuda_devices = ctranslate2.get_cuda_device_count()
    device = pick_device(requested, cuda_devices)
    try:
        supported = ctranslate2.get_supported_compute_types(device)
    except RuntimeError as err:  # a CUDA runtime that cannot start
        raise ValueError(f"device {device!r}: CTranslate2 cannot use it ({err})") from None
    compute = pick_compute_type(device, compute_type, supported)
    if requested == "auto":
        log.info("ASR device auto: %s (%d CUDA device(s) visible), compute type %s",
                 device, cuda_devices, compute)  # fmt: skip
    return device, compute


class WhisperEngine:
    """faster-whisper model loaded from a local CTranslate2 folder."""

    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        model_path: str | Path,
        config: WhisperConfig | None = None,
        guards: GuardConfig | None = None,
    ) -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        self.config = config or WhisperConfig()
        self.guards = guards or GuardConfig()
        self.device, self.compute_type = probe_device(self.config.device, self.config.compute_type)
        self.model = WhisperModel(
            str(model_path),
            device=self.device,
            compute_type=self.compute_type,
            cpu_threads=self.config.cpu_threads,
            num_workers=self.config.num_workers,
            local_files_only=True,
        )
        multilingual = self.model.model.is_multilingual
        language = self.config.language if multilingual else "en"
        self._needs_detect = multilingual and language is None
        self.tokenizer = Tokenizer(
            self.model.hf_tokenizer, multilingual, task="transcribe", language=language or "en"
        )
        self._pad = np.zeros(SAMPLE_RATE * self.config.pad_ms // 1000, dtype=np.float32)
        # even counts of 10 ms mel frames: (final, partial)
        self._min_frames = (self.config.min_encode_ms // 20 * 2,
                            self.config.partial_min_encode_ms // 20 * 2)  # fmt: skip

    def transcribe(
        self, audio: np.ndarray, *, word_timestamps: bool, partial: bool = False
    ) -> AsrResult:
        audio = np.asarray(audio, dtype=np.float32)
        duration = audio.size / SAMPLE_RATE
        feats = self.model.feature_extractor(np.concatenate((audio, self._pad)), padding=0)
        if self.config.full_window:
            feats = feats[:, :3000]
            feats = np.pad(feats, ((0, 0), (0, 3000 - feats.shape[-1])))
        num_frames = min(feats.shape[-1], 3000)  # the audio's frames (alignment stays in them)
        feats = feats[:, :num_frames]
        if num_frames % 2:
            feats = feats[:, :-1]
            num_frames -= 1
        floor = self._min_frames[partial]
        if num_frames < floor:
            feats = np.pad(feats, ((0, 0), (0, floor - num_frames)))
        encoded = self.model.encode(feats)
        tokenizer = self.tokenizer
        if self._needs_detect:
            lang_probs = self.model.model.detect_language(encoded)[0]
            code = lang_probs[0][0][2:-2]
            from faster_whisper.tokenizer import Tokenizer

            tokenizer = Tokenizer(self.model.hf_tokenizer, True, task="transcribe", language=code)
        prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        max_new = min(448 - len(prompt), int(duration * self.config.tokens_per_s) + 8)
        result = self.model.model.generate(
            encoded,
            [prompt],
            beam_size=self.config.beam_size,
            max_length=len(prompt) + max_new,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
        )[0]
        tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        capped = len(tokens) >= max_new  # stopped by the length cap: likely a loop
        score = result.scores[0] if result.scores else 0.0
        avg_logprob = score  # CTranslate2 returns the length-normalised log-prob
        text = tokenizer.decode(tokens).strip()
        words: tuple[AsrWord, ...] = ()
        if tokens and word_timestamps:
            words = self._align(tokenizer, tokens, encoded, num_frames, duration)
        if words:
            keep = collapse_repeats([w.text for w in words], self.guards.max_ngram_repeats)
            words = tuple(words[i] for i in keep)
            if capped:
                words = words[: trim_loop([w.text for w in words])]
            text = "".join(w.text for w in words).strip()
        else:
            parts = text.split()
            parts = [parts[i] for i in collapse_repeats(parts, self.guards.max_ngram_repeats)]
            text = " ".join(parts[: trim_loop(parts)] if capped else parts)
        ratio = compression_ratio(text)
        reason = rejection_reason(text, duration, result.no_speech_prob, avg_logprob, self.guards)
        if reason is not None:
            log.debug("decode dropped (%s): %r", reason, text)
        return AsrResult(
            text=text if reason is None else "",
            words=words if reason is None else (),
            no_speech_prob=float(result.no_speech_prob),
            avg_logprob=float(avg_logprob),
            compression_ratio=ratio,
            rejected=reason,
        )

    def _align(self, tokenizer, tokens, encoded, num_frames, duration) -> tuple[AsrWord, ...]:  # type: ignore[no-untyped-def]
        """Word timings; words aligned into the silence padding are a decoder
        loop past the end of the speech and are dropped."""
        alignment = self.model.find_alignment(tokenizer, [tokens], encoded, num_frames)
        words = []
        for w in alignment[0] if alignment else []:
            start, end = float(w["start"]), float(w["end"])
            if not w["word"].strip():
                continue
            if start >= duration - 0.02:
                break
            words.append(
                AsrWord(w["word"], start, min(max(end, start), duration), float(w["probability"]))
            )
        return tuple(words)
