"""Speaker changes in a mixed stream, found while it is spoken.

Most listen-in paths deliver a whole call as one mixed stream.
:class:`SegmentDiarizer` follows that stream's 16 kHz audio and the VAD's
segments.  While a segment is open it embeds a ``window_ms`` window every
``hop_ms`` as soon as the audio covers it (windows with less than
``min_voiced`` speech are skipped) and compares each with the open turn: a
window whose cosine to the turn's mean embedding is below
``change_similarity``, or that is ``change_margin`` closer to another known
speaker's centroid than to the turn's speaker, votes for a change (not the
first kind when the turn's known speaker is the window's nearest centroid, at
least ``new_speaker_similarity`` alike: the same voice, louder or lower in a
sentence, split it through a word); ``confirm_windows`` votes in a row make one.
The change is placed between the centres of the last window of the turn and the
first that voted, then moved to the quietest 20 ms within ``snap_ms`` (turns
hand over in a pause when there is one).  The closed turn gets its speaker from
:class:`~pipeline.speakers.SpeakerClusters` (online clustering, labels stable
for the call) and is handed out at once (:meth:`SegmentDiarizer.take_changes`)
so the stream can cut its segment there; :meth:`SegmentDiarizer.provisional`
is the open turn's label as it stands (for partials), and
:meth:`SegmentDiarizer.settled` how far the speakers are known (a streaming
commit cuts at a clause end only up to there).  Where two voices
overlap, the embedding follows the louder one, so the louder voice wins.
Sans-I/O: the embedding function (a speaker encoder, or a fake in tests) is
passed in, and time is the sample index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from records.events import Word
from records.frames import AudioFrame

from .speakers import Assignment, DiarizeConfig, SpeakerClusters, unit
from .turns import NEUTRAL, ROLE, SpeakerTurn
from .utterance import AudioRing

__all__ = [
    "NEUTRAL",
    "ROLE",
    "Assignment",
    "DiarizeConfig",
    "Embedder",
    "SegmentDiarizer",
    "SpeakerClusters",
    "SpeakerTurn",
    "label_words",
    "turn_at",
]

Embedder = Callable[[np.ndarray], np.ndarray]  # (n, samples) float32 -> (n, dim) unit rows


@dataclass(frozen=True, slots=True)
class _Window:
    start: int
    end: int
    embedding: np.ndarray

    @property
    def centre(self) -> int:
        return (self.start + self.end) // 2


class SegmentDiarizer:
    """Speaker turns of one mixed stream's segments, found as the audio comes."""

    def __init__(
        self, embed: Embedder, sample_rate: int = 16000, config: DiarizeConfig | None = None
    ) -> None:
        self.config = config or DiarizeConfig()
        self.embed = embed
        self.sample_rate = sample_rate
        self.clusters = SpeakerClusters(self.config)
        cfg = self.config
        self._win = sample_rate * cfg.window_ms // 1000
        self._hop = sample_rate * cfg.hop_ms // 1000
        self._snap = sample_rate * cfg.snap_ms // 1000
        self._frame = sample_rate // 100  # 10 ms, for the speech share of a window
        self._quiet = 10 ** (cfg.quiet_dbfs / 20)
        self.ring = AudioRing(self._win + sample_rate * 4)  # a window plus pre-roll and lag
        self._seg_start: int | None = None
        self._next = 0  # start of the next window to embed
        self._turn_start = 0
        self._run: list[_Window] = []  # windows of the open turn
        self._pending: list[_Window] = []  # windows in a row voting for a change
        self._closed: list[SpeakerTurn] = []  # turns closed by a change, not yet taken
        self.windows_embedded = 0
        self.windows_skipped = 0  # too little speech in them

    def audio(self, frame: AudioFrame) -> None:
        """Keep the audio; embed (and vote with) every window of the open segment it completes."""
        self.ring.write(frame)
        self._embed_due()

    def _embed_due(self) -> None:
        if self._seg_start is None:
            return
        while self._next + self._win <= self.ring.end:
            window = self._window(self._next, self._next + self._win)
            if window is not None:
                self._vote(window)
            self._next += self._hop

    def speech_start(self, start: int) -> None:
        self._seg_start = self._next = self._turn_start = start
        self._run, self._pending = [], []
        self._embed_due()  # the pre-roll may already hold a window

    def take_changes(self) -> list[SpeakerTurn]:
        """Turns closed by a speaker change since the last call (their ``end`` is the change)."""
        out, self._closed = self._closed, []
        return out

    def provisional(self) -> SpeakerTurn | None:
        """The open turn with the label it would get now (None before its first window)."""
        if self._seg_start is None or not self._run:
            return None
        end = max(self.ring.end, self._turn_start + 1)
        got = self.clusters.peek(self._voice(end), self._ms(end - self._turn_start))
        return SpeakerTurn(self._turn_start, end, got.label, got.kind, got.similarity, got.new)

    def settled(self) -> int | None:
        """How far (sample index) the open segment's speakers are known: to the middle of
        the open turn's last window that voted "same speaker" (a change later than that
        may not have turned a window yet), or to just before that window when later ones
        vote for a change (it is placed near there).  None before the turn's first window:
        nothing past the turn's start is known."""
        if self._seg_start is None or not self._run:
            return None
        last = self._run[-1].centre
        return last - self._snap if self._pending else last

    def speech_end(self, end: int) -> tuple[SpeakerTurn, ...]:
        """The segment closed at ``end``: its turns not yet taken, in order (none if no audio)."""
        if self._seg_start is None:
            return ()
        self._seg_start = None
        end = min(end, self.ring.end)
        # windows embedded during the hangover reach past the end: keep those mostly inside
        keep = end + self._hop // 2
        self._run = [w for w in self._run if w.end <= keep]
        self._pending = [w for w in self._pending if w.end <= keep]
        last = max((w.end for w in self._run + self._pending), default=self._turn_start)
        if end - self._turn_start >= self._win and end - last >= self._hop // 2:
            window = self._window(end - self._win, end)
            if window is not None:
                self._vote(window)
        if self._pending and len(self._pending) >= self.config.confirm_windows - 1:
            self._change()
        if not self._run and end - self._turn_start >= self.sample_rate // 10:
            a = max(self._turn_start, end - self._win)
            window = self._window(a, end, force=True)
            self._run = [window] if window is not None else []
        if self._run:
            self._closed.append(self._close(end))
        self._run, self._pending = [], []
        return tuple(self.take_changes())

    def _ms(self, samples: int) -> int:
        return samples * 1000 // self.sample_rate

    def _window(self, a: int, b: int, force: bool = False) -> _Window | None:
        pcm = self.ring.read(a, b)
        if pcm.size == 0:
            return None
        if not force:
            n = pcm.size // self._frame * self._frame
            rms = np.sqrt(np.mean(pcm[:n].reshape(-1, self._frame) ** 2, axis=1))
            if n == 0 or float(np.mean(rms >= self._quiet)) < self.config.min_voiced:
                self.windows_skipped += 1
                return None
        emb = unit(self.embed(pcm[None, :])[0])
        self.windows_embedded += 1
        return _Window(a, b, emb)

    def _vote(self, w: _Window) -> None:
        cfg = self.config
        if not self._run:
            self._run.append(w)
            return
        mean = _mean(self._run)
        change = float(w.embedding @ mean) < cfg.change_similarity
        if self.clusters.count:
            cur = self.clusters.peek(mean, self._ms(w.end - self._turn_start))
            if not cur.new:
                sims = self.clusters.similarities(w.embedding)
                closer = float(np.max(sims) - sims[cur.index])  # another speaker, by this much
                if not change:
                    change = closer > cfg.change_margin
                elif closer <= 0 and sims[cur.index] >= cfg.new_speaker_similarity:
                    change = False  # unlike the turn so far, but clustering says the same voice
        if change:
            self._pending.append(w)
            if len(self._pending) >= cfg.confirm_windows:
                self._change()
        else:
            self._pending = []  # a lone unlike window: a blend or noise, in no turn's mean
            self._run.append(w)

    def _change(self) -> None:
        """The pending windows are a new turn: close the open one at the change."""
        first = self._pending[0]
        guess = (self._run[-1].centre + first.centre) // 2
        lo = max(self._turn_start + self._hop, guess - self._snap, self._run[-1].centre)
        hi = min(guess + self._snap, first.centre)
        cut = self._quietest(lo, hi) if lo < hi else guess
        self._closed.append(self._close(cut))
        self._turn_start = cut
        self._run, self._pending = self._pending, []

    def _close(self, end: int) -> SpeakerTurn:
        got = self.clusters.assign(self._voice(end), self._ms(end - self._turn_start))
        return SpeakerTurn(self._turn_start, end, got.label, got.kind, got.similarity, got.new)

    def _voice(self, end: int) -> np.ndarray:
        """The open turn's embedding for clustering: the mean of its windows that lie inside
        [turn start, ``end``] (within half a hop), when it has any.

        Windows that straddle a change hold the other voice too (and both, where turns
        overlap); a turn's mean built from them sits between the two speakers and can
        match neither.  Short turns have only such windows and keep them all.
        """
        slack = self._hop // 2
        inside = [
            w for w in self._run if w.start >= self._turn_start - slack and w.end <= end + slack
        ]
        return _mean(inside or self._run)

    def _quietest(self, a: int, b: int) -> int:
        """The middle of the quietest 20 ms in [a, b) (``a`` when too little audio is kept)."""
        step = self.sample_rate // 50
        pcm = self.ring.read(a, b)
        n = pcm.size // step
        if n == 0:
            return a
        energy = np.mean(pcm[: n * step].reshape(n, step) ** 2, axis=1)
        return a + int(np.argmin(energy)) * step + step // 2

    def reset(self) -> None:
        self._seg_start = None
        self._run, self._pending, self._closed = [], [], []
        self.clusters.reset()


def _mean(windows: list[_Window]) -> np.ndarray:
    return unit(np.mean([w.embedding for w in windows], axis=0))


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
