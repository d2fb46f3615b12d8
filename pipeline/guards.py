"""Guards against Whisper's hallucinations on silence, noise and loops.

Pure functions over decode results: a decode is rejected when the model itself
says there is no speech (no-speech probability with a low average log
probability), when the text compresses too well (a loop), or when it has far
more words than the audio can hold; repeated n-gram runs are collapsed.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GuardConfig:
    no_speech_prob: float = 0.6  # reject above this ...
    no_speech_logprob: float = -1.0  # ... when avg log-prob is also below this
    min_avg_logprob: float = -1.5  # reject any decode this unsure
    max_compression_ratio: float = 2.4
    max_words_per_s: float = 6.0
    max_ngram_repeats: int = 2  # an n-gram may appear this many times in a row

    def __post_init__(self) -> None:
        if not 0.0 <= self.no_speech_prob <= 1.0:
            raise ValueError("no_speech_prob must be in [0, 1]")
        if self.max_ngram_repeats < 1:
            raise ValueError("max_ngram_repeats must be >= 1")


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    if not data:
        return 0.0
    return len(data) / len(zlib.compress(data))


def collapse_repeats(items: Sequence[str], max_repeats: int = 2, max_n: int = 4) -> list[int]:
    """Indices of ``items`` to keep so no n-gram (n <= max_n) runs more than ``max_repeats``.

    Comparison ignores case and surrounding punctuation.
    """
    norm = [s.strip().strip(".,!?;:").lower() for s in items]
    keep = list(range(len(norm)))
    for n in range(1, max_n + 1):
        out: list[int] = []
        i = 0
        while i < len(keep):
            out.append(keep[i])
            gram = [norm[k] for k in keep[i : i + n]]
            if len(gram) == n:
                run = 1
                j = i + n
                while [norm[k] for k in keep[j : j + n]] == gram:
                    run += 1
                    j += n
                if run > max_repeats:
                    out.extend(keep[i + 1 : i + n * max_repeats])
                    i = j
                    continue
            i += 1
        keep = out
    return keep


def trim_loop(items: Sequence[str], min_words: int = 3) -> int:
    """Length to keep when the text ends by repeating an earlier run of words.

    Whisper decoding a short window sometimes wraps around and starts the
    utterance again (``"how can I help you how can I help"``); the repeated tail
    (at least ``min_words`` words equal to an earlier run) is cut.
    """
    norm = [s.strip().strip(".,!?;:").lower() for s in items]
    n = len(norm)
    for i in range(min_words, n - min_words + 1):
        tail = norm[i:]
        for j in range(0, i):
            span = norm[j : j + len(tail)]
            if len(span) == len(tail) and span == tail:
                return i
    return n


def rejection_reason(
    text: str,
    duration_s: float,
    no_speech_prob: float,
    avg_logprob: float,
    config: GuardConfig,
) -> str | None:
    """Why a decode must be dropped, or None when it can be used."""
    words = text.split()
    if not words:
        return "empty"
    if no_speech_prob > config.no_speech_prob and avg_logprob < config.no_speech_logprob:
        return "no_speech"
    if avg_logprob < config.min_avg_logprob:
        return "low_confidence"
    if compression_ratio(text) > config.max_compression_ratio:
        return "compression_ratio"
    if len(words) > config.max_words_per_s * max(duration_s, 0.5) + 2:
        return "too_many_words"
    return None
