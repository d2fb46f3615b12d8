"""Online speaker clustering for a mixed stream: stable labels for the whole call.

:class:`SpeakerClusters` keeps one duration-weighted centroid per speaker.  A
turn joins the most similar known speaker (centroid cosine), or founds a new
one when it is unlike all of them (below ``new_speaker_similarity``), lasts at
least ``min_new_speaker_ms`` and fewer than ``max_speakers`` are known.  The
call's first turn founds a speaker however short it is (a 0.6 s "Hello" still
takes the first role); a speaker founded on less than ``min_new_speaker_ms`` of
speech is *provisional*: its embedding is a noisy one from little audio, so a
later turn that would found a new speaker joins it instead (confirming it) when
at least ``provisional_similarity`` alike it.  A speaker's centroid moves with
every turn of at least ``min_update_ms`` given to it; labels are never
reassigned, so a label id never swaps mid-call.
Labels are ``speaker_1``... in order of first appearance (``kind``
``neutral``), or the ``roles`` the platform told (``("agent", "customer")``
when the agent speaks first; ``kind`` ``role``).  :meth:`SpeakerClusters.peek`
gives the label a turn would get now without changing anything (a partial's
provisional label).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .turns import NEUTRAL, ROLE


@dataclass(frozen=True, slots=True)
class DiarizeConfig:
    window_ms: int = 1200  # one embedding per window
    hop_ms: int = 400  # a window starts every hop: changes are found at this resolution
    confirm_windows: int = 2  # this many windows in a row unlike the turn make a change
    change_similarity: float = 0.76  # a window less alike its turn's mean votes for a change
    change_margin: float = 0.05  # ... or one this much closer to another known speaker
    quiet_dbfs: float = -45.0  # 10 ms frames below this are not speech
    min_voiced: float = 0.5  # windows with less speech than this share are not embedded
    snap_ms: int = 300  # a change moves to the quietest 20 ms within this of its estimate
    max_speakers: int = 4
    new_speaker_similarity: float = 0.75  # a turn below this to every speaker is a new one
    min_new_speaker_ms: int = 1200  # shorter turns never found a new speaker
    min_update_ms: int = 1000  # shorter turns do not move a speaker's centroid
    provisional_similarity: float = 0.65  # a new voice this alike a provisional speaker is it
    roles: tuple[str, ...] = ()  # labels by order of appearance, e.g. ("agent", "customer")

    def __post_init__(self) -> None:
        if not 0 < self.hop_ms <= self.window_ms:
            raise ValueError("need 0 < hop_ms <= window_ms")
        if self.window_ms < 500:
            raise ValueError("window_ms must be >= 500")
        if not 1 <= self.max_speakers <= 16:
            raise ValueError("max_speakers must be 1-16")
        if self.confirm_windows < 1:
            raise ValueError("confirm_windows must be >= 1")
        if not 0.0 <= self.min_voiced <= 1.0:
            raise ValueError("min_voiced must be a share in [0, 1]")
        if self.snap_ms < 0:
            raise ValueError("snap_ms must be >= 0")
        for name in ("change_similarity", "new_speaker_similarity", "provisional_similarity"):
            if not -1.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a cosine in [-1, 1]")
        if len(set(self.roles)) != len(self.roles) or any(not r for r in self.roles):
            raise ValueError("roles must be distinct non-empty labels")


@dataclass(frozen=True, slots=True)
class Assignment:
    index: int  # 0-based speaker number, in order of appearance
    label: str
    kind: str
    similarity: float
    new: bool


class SpeakerClusters:
    """Online speaker clustering of turn embeddings; labels are stable for the call."""

    def __init__(self, config: DiarizeConfig | None = None) -> None:
        self.config = config or DiarizeConfig()
        self._sums: list[np.ndarray] = []  # duration-weighted sums of unit embeddings
        self._heard_ms: list[int] = []  # speech behind each sum

    @property
    def count(self) -> int:
        return len(self._sums)

    def label(self, index: int) -> tuple[str, str]:
        roles = self.config.roles
        if index < len(roles):
            return roles[index], ROLE
        return f"speaker_{index + 1}", NEUTRAL

    def similarities(self, embedding: np.ndarray) -> np.ndarray:
        if not self._sums:
            return np.zeros(0, dtype=np.float32)
        cents = np.stack(self._sums)
        cents /= np.maximum(np.linalg.norm(cents, axis=1, keepdims=True), 1e-12)
        return cents @ unit(embedding)

    def peek(self, embedding: np.ndarray, duration_ms: int) -> Assignment:
        """The assignment :meth:`assign` would make now, changing nothing."""
        cfg = self.config
        sims = self.similarities(embedding)
        best = int(np.argmax(sims)) if sims.size else -1
        unlike = best < 0 or float(sims[best]) < cfg.new_speaker_similarity
        if best < 0:
            return Assignment(self.count, *self.label(self.count), 1.0, True)
        if unlike and duration_ms >= cfg.min_new_speaker_ms:
            held = [
                i
                for i in range(self.count)
                if self.provisional(i) and float(sims[i]) >= cfg.provisional_similarity
            ]
            if held:  # the voice of a speaker founded on too little speech to know it well
                i = max(held, key=lambda k: float(sims[k]))
                return Assignment(i, *self.label(i), float(sims[i]), False)
            if self.count < cfg.max_speakers:
                return Assignment(self.count, *self.label(self.count), 1.0, True)
        return Assignment(best, *self.label(best), float(sims[best]), False)

    def provisional(self, index: int) -> bool:
        """Founded on less speech than a new speaker needs (the call's first, short turn)."""
        return self._heard_ms[index] < self.config.min_new_speaker_ms

    def centroid(self, index: int) -> np.ndarray:
        return unit(self._sums[index])

    def assign(self, embedding: np.ndarray, duration_ms: int) -> Assignment:
        emb = unit(embedding)
        got = self.peek(emb, duration_ms)
        if got.new:
            self._sums.append(emb * max(duration_ms, 1) / 1000)
            self._heard_ms.append(duration_ms)
        elif duration_ms >= self.config.min_update_ms:
            self._sums[got.index] = self._sums[got.index] + emb * duration_ms / 1000
            self._heard_ms[got.index] += duration_ms
        return got

    def reset(self) -> None:
        self._sums.clear()
        self._heard_ms.clear()


def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32).ravel()
    return v / max(float(np.linalg.norm(v)), 1e-12)
