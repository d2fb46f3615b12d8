"""Speaker labels for a mixed stream: who is speaking in each speech segment.

Most listen-in paths deliver a whole call as one mixed stream.
:class:`SegmentDiarizer` follows that stream's 16 kHz audio and the VAD's
segments.  While a segment is open it embeds each ``window_ms`` window as soon
as the audio covers it (every ``hop_ms``), so the work is spread over the
segment; at the segment's end it embeds the uncovered tail, looks for speaker
changes inside the segment (neighbouring windows merge bottom-up into runs
while the mean cosine between their windows stays at or above
``change_similarity``;
a run needs ``min_turn_windows`` windows) and gives each turn a speaker from
:class:`SpeakerClusters`.  Both are sans-I/O: the embedding function (a
speaker encoder, or a fake in tests) is passed in, and time is the sample index.

:class:`SpeakerClusters` is online clustering with labels that never change:
a turn joins the most similar known speaker (centroid cosine), or founds a new
one when it is unlike all of them (below ``new_speaker_similarity``), lasts at
least ``min_new_speaker_ms`` and fewer than ``max_speakers`` are known.  Labels
are ``speaker_1``... in order of first appearance (``kind`` ``neutral``), or
the ``roles`` the platform told (``("agent", "customer")`` when the agent speaks
first; ``kind`` ``role``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from records.events import Word
from records.frames import AudioFrame

from .turns import NEUTRAL, ROLE, SpeakerTurn
from .utterance import AudioRing

Embedder = Callable[[np.ndarray], np.ndarray]  # (n, samples) float32 -> (n, dim) unit rows


@dataclass(frozen=True, slots=True)
class DiarizeConfig:
    window_ms: int = 1600  # one embedding per window (the encoder's 160-frame partial)
    hop_ms: int = 800
    min_turn_windows: int = 2  # a change inside a segment needs this many windows each side
    change_similarity: float = 0.66  # neighbouring runs less alike (average linkage) split
    max_speakers: int = 4
    new_speaker_similarity: float = 0.75  # a turn below this to every speaker is a new one
    min_new_speaker_ms: int = 1500  # shorter turns never found a new speaker
    min_update_ms: int = 1000  # shorter turns do not move a speaker's centroid
    roles: tuple[str, ...] = ()  # labels by order of appearance, e.g. ("agent", "customer")

    def __post_init__(self) -> None:
        if not 0 < self.hop_ms <= self.window_ms:
            raise ValueError("need 0 < hop_ms <= window_ms")
        if self.window_ms < 500:
            raise ValueError("window_ms must be >= 500")
        if not 1 <= self.max_speakers <= 16:
            raise ValueError("max_speakers must be 1-16")
        if self.min_turn_windows < 1:
            raise ValueError("min_turn_windows must be >= 1")
        for name in ("change_similarity", "new_speaker_similarity"):
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
        return cents @ _unit(embedding)

    def assign(self, embedding: np.ndarray, duration_ms: int) -> Assignment:
        cfg = self.config
        emb = _unit(embedding)
        sims = self.similarities(emb)
        best = int(np.argmax(sims)) if sims.size else -1
        unlike = best < 0 or float(sims[best]) < cfg.new_speaker_similarity
        if unlike and (
            best < 0 or (self.count < cfg.max_speakers and duration_ms >= cfg.min_new_speaker_ms)
        ):
            self._sums.append(emb * max(duration_ms, 1) / 1000)
            return Assignment(self.count - 1, *self.label(self.count - 1), 1.0, True)
        if duration_ms >= cfg.min_update_ms:
            self._sums[best] = self._sums[best] + emb * duration_ms / 1000
        return Assignment(best, *self.label(best), float(sims[best]), False)

    def reset(self) -> None:
        self._sums.clear()


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32).ravel()
    return v / max(float(np.linalg.norm(v)), 1e-12)


@dataclass(frozen=True, slots=True)
class _Window:
    start: int
    end: int
    embedding: np.ndarray


class SegmentDiarizer:
    """Speaker turns of one mixed stream's segments, from its 16 kHz audio."""

    def __init__(
        self, embed: Embedder, sample_rate: int = 16000, config: DiarizeConfig | None = None
    ) -> None:
        self.config = config or DiarizeConfig()
        self.embed = embed
        self.sample_rate = sample_rate
        self.clusters = SpeakerClusters(self.config)
        self._win = sample_rate * self.config.window_ms // 1000
        self._hop = sample_rate * self.config.hop_ms // 1000
        self.ring = AudioRing(self._win + sample_rate * 4)  # a window plus pre-roll and lag
        self._seg_start: int | None = None
        self._next = 0  # start of the next window to embed
        self._windows: list[_Window] = []
        self.windows_embedded = 0

    def audio(self, frame: AudioFrame) -> None:
        """Keep the audio; embed every window of the open segment it completes."""
        self.ring.write(frame)
        self._embed_due()

    def _embed_due(self) -> None:
        if self._seg_start is None:
            return
        while self._next + self._win <= self.ring.end:
            self._embed(self._next, self._next + self._win)
            self._next += self._hop

    def speech_start(self, start: int) -> None:
        self._seg_start = self._next = start
        self._windows = []
        self._embed_due()  # the pre-roll may already hold a window

    def speech_end(self, end: int) -> tuple[SpeakerTurn, ...]:
        """The segment closed at ``end``: its speaker turns, in order (none if no audio)."""
        if self._seg_start is None:
            return ()
        start, self._seg_start = self._seg_start, None
        end = min(end, self.ring.end)
        # windows embedded during the hangover reach past the end: keep those mostly inside
        self._windows = [w for w in self._windows if w.end - end <= self._hop // 2]
        last = self._windows[-1].end if self._windows else start
        if end - start < self._win:
            self._windows = []  # one short window: the segment as it is
            if end - start >= self.sample_rate // 10:
                self._embed(start, end)
        elif end - last >= self._hop // 2:
            self._embed(end - self._win, end)
        if not self._windows:
            return ()
        turns: list[SpeakerTurn] = []
        runs = self._runs(np.stack([w.embedding for w in self._windows]))
        for n, (a, b) in enumerate(runs):
            t0 = start if n == 0 else _boundary(self._windows[a - 1], self._windows[a])
            t1 = end if n == len(runs) - 1 else _boundary(self._windows[b - 1], self._windows[b])
            mean = np.mean([w.embedding for w in self._windows[a:b]], axis=0)
            got = self.clusters.assign(mean, (t1 - t0) * 1000 // self.sample_rate)
            if turns and turns[-1].speaker == got.label:  # a split that changed nothing
                prev = turns.pop()
                turns.append(
                    SpeakerTurn(prev.start, t1, prev.speaker, prev.kind, prev.similarity, prev.new)
                )
                continue
            turns.append(SpeakerTurn(t0, t1, got.label, got.kind, got.similarity, got.new))
        self._windows = []
        return tuple(turns)

    def _embed(self, a: int, b: int) -> None:
        pcm = self.ring.read(a, b)
        if pcm.size == 0:
            return
        emb = self.embed(pcm[None, :])[0]
        self.windows_embedded += 1
        self._windows.append(_Window(a, b, emb))

    def _runs(self, embs: np.ndarray) -> list[tuple[int, int]]:
        """Index ranges of windows spoken by one voice, from their (n, dim) embeddings.

        Bottom-up: the most similar neighbouring runs merge first while the mean
        cosine between their windows (average linkage) is at least
        ``change_similarity``, so A-B-A finds both changes; then runs shorter
        than ``min_turn_windows`` join their closer neighbour.
        """
        pair = embs @ embs.T  # cosine of every two windows
        runs = [(i, i + 1) for i in range(len(embs))]

        def sim(k: int) -> float:  # average linkage of neighbouring runs
            (a1, b1), (a2, b2) = runs[k], runs[k + 1]
            return float(pair[a1:b1, a2:b2].mean())

        def merge(k: int) -> None:
            runs[k : k + 2] = [(runs[k][0], runs[k + 1][1])]

        while len(runs) > 1:
            k = max(range(len(runs) - 1), key=sim)
            if sim(k) < self.config.change_similarity:
                break
            merge(k)
        m = self.config.min_turn_windows
        while len(runs) > 1:
            short = [k for k, r in enumerate(runs) if r[1] - r[0] < m]
            if not short:
                break
            k = min(short, key=lambda k: runs[k][1] - runs[k][0])
            if k == 0 or (k < len(runs) - 1 and sim(k) >= sim(k - 1)):
                merge(k)
            else:
                merge(k - 1)
        return runs

    def reset(self) -> None:
        self._seg_start = None
        self._windows = []
        self.clusters.reset()


def _boundary(left: _Window, right: _Window) -> int:
    """Where one turn hands over to the next: the middle of the windows' overlap."""
    return (right.start + min(left.end, right.end)) // 2 if right.start < left.end else right.start


def turn_at(turns: tuple[SpeakerTurn, ...], sample: int) -> SpeakerTurn:
    """The turn covering ``sample`` (the nearest one when it falls outside them all)."""
    for t in turns:
        if sample < t.end:
            return t
    return turns[-1]


def label_words(
    words: tuple[Word, ...], turns: tuple[SpeakerTurn, ...], sample_rate: int
) -> tuple[tuple[Word, ...], str, str]:
    """A final's words (times in s) and its segment's turns -> (words, speaker, kind).

    The speaker is the one with most words (ties: the longer turn).  Words get a
    ``speaker`` only when the segment changes speaker: the turn holding the
    word's middle.
    """
    if not turns:
        raise ValueError("label_words needs at least one turn")
    if len(turns) == 1:
        return words, turns[0].speaker, turns[0].kind
    said = [turn_at(turns, int((w.start + w.end) / 2 * sample_rate)) for w in words]
    count = {t.speaker: sum(s.speaker == t.speaker for s in said) for t in turns}
    main = max(turns, key=lambda t: (count[t.speaker], t.end - t.start))
    labelled = tuple(
        Word(w.text, w.start, w.end, w.probability, turn.speaker)
        for w, turn in zip(words, said, strict=True)
    )
    return labelled, main.speaker, main.kind
