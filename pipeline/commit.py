"""Streaming commit: finals at sentence speed inside a long turn (LocalAgreement-2).

:class:`LocalAgreement` is sans-I/O.  It is told each partial decode of the open
segment (words with call-clock times) and keeps the previous one; the words two
successive decodes agree on (a common prefix, compared without case or punctuation,
and by what a word says: "7 3 0 5", "seven three zero five" and "7305" agree,
:func:`spoken`; a letter spelled out agrees with any letter heard at the same time) are
stable; the current decode's words are the ones committed.  Once
the stable words reach a sentence or clause end (the decoder's ``. ? ! ,`` as the
hint) at least ``min_ms`` into the segment, or stable words end at a pause the VAD
heard (no word's middle inside it, :func:`before_pause`; the decode must hold
``pause_heard_ms`` of it, and then ``guard_ms`` does not apply: the word is over),
or run past ``force_ms`` without one, it returns a :class:`Commit`.  A number read
out is not cut at its commas or pauses until the decode holds the word after it and
that is no number (:func:`in_number`), or digits pause ``number_pause_ms`` (a spelling
goes on over any pause); a forced cut never falls inside one.  A
commit's words become a final right away, and the segment is cut just after them
(:meth:`pipeline.utterance.UtterancePolicy.split`).  Decoding goes on from the cut
minus ``overlap_ms`` of audio, moved back to the onset of the committed word that
instant falls in (:meth:`Commit.resume`), so a word the timestamps clip is heard whole
again (after a spelling cut at a pause, from the cut: :attr:`Commit.spelled`);
:func:`after_seam` then drops, from every decode of the rest, the words that lie
before the cut or repeat the committed tail (as whisper_streaming's
``HypothesisBuffer`` does; "7" repeats "seven"), so no word is lost or doubled, and
no word of the rest starts before the cut.  The final of the rest is decoded from
:attr:`Seam.start`, the committed words' own onset (``rest_from_onset``): their audio
is the decoder's context, and their repeat is dropped the same way (alone, the rest
read "is to be ill disposed" as "is to be able to suppose"; Whisper also loses its
way on a clip that starts inside a word: "woman, he might have been ..." decoded as
just "the"; after a spelling, from the cut).  With that off, a final of the rest
that the guards reject is decoded once more from there (:func:`lost_its_way`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from records.events import TranscriptFinal, Word

from .asr import AsrResult, AsrWord
from .numwords import REPEAT, TEENS, TENS, UNITS

NUMBER_WORDS = frozenset({*UNITS, *TEENS, *TENS, *REPEAT, "hundred", "thousand"})
HOMOPHONES = frozenset("to too for won ate".split())  # a digit a decode may write as a word

PUNCT = ".?!,"
ABBREVIATIONS = frozenset("mr mrs ms dr st jr sr mt vs etc".split())  # a period, no sentence end
MAX_PAUSE_WORD_S = 1.0  # a longer word is never cut at a pause: its end may hide a word
_STRIP = re.compile(r"[^\w']+")


@dataclass(frozen=True, slots=True)
class CommitConfig:
    enabled: bool = True
    min_ms: int = 500  # a commit covers at least this much of the segment
    force_ms: int = 5000  # stable words this far into a segment are cut without punctuation
    guard_ms: int = 300  # a cut word ends at least this long before the decoded audio does
    overlap_ms: int = 1000  # audio before the cut decoded again with the rest (context)
    tail_words: int = 5  # committed words a later decode may repeat at the seam
    pause_heard_ms: int = 100  # a decode holds this much of a pause: words before it are cut
    # a number read out is over at a pause this long (its digits come 100-200 ms apart)
    number_pause_ms: int = 250
    # the final of a commit's rest decodes the committed words' audio again, for context
    # (then drops them): the rest alone read "ill disposed" as "able to suppose"
    rest_from_onset: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.min_ms <= self.force_ms:
            raise ValueError("need 0 <= commit min_ms <= force_ms")
        if min(self.guard_ms, self.overlap_ms, self.tail_words, self.pause_heard_ms,
               self.number_pause_ms) < 0:  # fmt: skip
            raise ValueError(
                "guard_ms, overlap_ms, tail_words, pause_heard_ms and number_pause_ms must be >= 0"
            )


@dataclass(frozen=True, slots=True)
class TimedWord:
    text: str  # as decoded, leading space and punctuation kept
    start: float  # s, call clock
    end: float  # s, call clock
    probability: float

    @property
    def key(self) -> str:
        return norm(self.text)

    @property
    def said(self) -> tuple[str, ...]:
        return spoken(self.key)


@dataclass(frozen=True, slots=True)
class Pause:
    """A pause the VAD heard inside the open segment (call clock)."""

    start: float  # s, after the last voiced audio
    end: float  # s, where voice came back (or the newest audio, if it has not)


@dataclass(frozen=True, slots=True)
class Seam:
    """Where a segment was cut: later decodes of its rest drop what came before."""

    cut: float  # s, call clock
    tail: tuple[str, ...]  # what the last (up to 8) committed words said (:func:`spoken`)
    start: float  # s, call clock: where the committed words' audio began (a clean onset)


@dataclass(frozen=True, slots=True)
class Commit:
    """Stable words that end a sentence or clause: a final, and where to cut."""

    segment_id: str
    words: tuple[TimedWord, ...]
    start: float  # s, call clock: the segment's start
    cut: float  # s, call clock: the rest of the segment starts here
    at_pause: bool = False  # the cut lies in a pause the VAD heard: no word of the rest in it

    @property
    def text(self) -> str:
        return "".join(w.text for w in self.words).strip()

    @property
    def spelled(self) -> bool:
        """Whether a spelling (two letters or more) ends here, at a heard pause: the
        rest is decoded without its letters before it, which make the decoder read the
        next word's sounds as letters too ("d a s h" then "asterisk" read "H. Afterisk"
        from six of seven starts in the letters, "asterisk" from the pause)."""
        return self.at_pause and len(self.words) > 1 and all(map(is_letter, self.words[-2:]))

    @property
    def seam(self) -> Seam:
        tail = tuple(u for w in self.words[-8:] for u in w.said)
        return Seam(self.cut, tail, self.cut if self.spelled else self.start)

    def resume(self, overlap_s: float) -> float:
        """Where the rest's decodes start (s, call clock): ``overlap_s`` before the cut,
        or the onset of the committed word that falls inside (a clip that starts inside a
        word loses its way: "an ill disposed" read "an old sposed" from 30 ms into "He");
        the cut itself after a spelling (:attr:`spelled`)."""
        if self.spelled:
            return self.cut
        at = self.cut - overlap_s
        return next((w.start for w in self.words if w.start < at < w.end), at)


def norm(text: str) -> str:
    return _STRIP.sub("", text.lower())


def spoken(key: str) -> tuple[str, ...]:
    """What a normalised word says, for comparing decodes: a figure says its digits one
    by one ("1-9" and "19" are "1", "9"), a digit's name its digit ("seven", "7"; "oh" and
    "o" sound as "0" does), any other word itself.  Decodes write one number either way."""
    if key.isdigit():
        return tuple(key)
    return (str(UNITS[key]),) if key in UNITS else (key,)


def timed(words: tuple[AsrWord, ...], offset_s: float) -> tuple[TimedWord, ...]:
    """A decode's words on the call clock (``offset_s``: where its audio starts); the
    aligner's punctuation-only words (``.``, ``,``) join the word before them."""
    out: list[TimedWord] = []
    for w in words:
        if out and not norm(w.text):
            out[-1] = replace(out[-1], text=out[-1].text + w.text.strip())
        elif norm(w.text):
            out.append(TimedWord(w.text, offset_s + w.start, offset_s + w.end, w.probability))
    return tuple(out)


def agreed(prev: tuple[TimedWord, ...], cur: tuple[TimedWord, ...]) -> int:
    """How many leading words of ``cur`` the two decodes share (LocalAgreement-2), by
    what the words say (:func:`spoken`) run together: "7 3 0 5" agrees with "seven three
    zero five", "1-9" with "one nine" and "keywords" with "key words"; the shared words
    must end where a word of ``prev`` ends ("key" is not "keywords").  A letter spelled
    out agrees with any letter heard at the same time: the decoder wavers between
    letters that sound alike ("d a s h", then "b a f h"), and the newer decode, with
    more audio after it, is the one committed."""
    said, ends, letters = "", set(), {}
    for w in prev:
        if is_letter(w):
            letters[len(said)] = w
        said += "".join(w.said)
        ends.add(len(said))
    n, at = 0, 0
    for i, w in enumerate(cur):
        says = "".join(w.said)
        if not w.key:
            break
        if said[at : at + len(says)] == says:
            at += len(says)
        elif is_letter(w) and at in letters and overlap(letters[at], w):
            at += 1
        else:
            break
        if at in ends:
            n = i + 1
    return n


def is_letter(word: TimedWord) -> bool:
    return len(word.key) == 1 and word.key.isalpha()


def overlap(a: TimedWord, b: TimedWord) -> bool:
    """Whether two decodes' words share some of their time."""
    return min(a.end, b.end) > max(a.start, b.start)


def ends_clause(word: TimedWord) -> bool:
    """Whether the decoder ended a sentence or clause with ``word``."""
    return word.text.rstrip()[-1:] in PUNCT and word.key not in ABBREVIATIONS


def in_number(words: tuple[TimedWord, ...], i: int, limit: float) -> bool:
    """Whether a number (or a spelling) read out may go on after ``words[i]``: a card,
    account or phone number comes as "4, 5, 3, 2," with pauses between its digits and is
    one final (so redaction sees it whole, and no one reads half a number as a sentence;
    a letter alone decodes badly: "s" came back as nothing).  It is over once the decode
    holds a next word that is no number ("... 3 0 5. If this is", "... two, my expiry"),
    nor one that may be a number misheard ("for", "to"), and that ends by ``limit`` (a
    word at the audio's end is often clipped: "no one not" for "nine"); the caller also
    ends it at a pause of ``number_pause_ms``."""
    if not is_number(words[i]):
        return False
    if i + 1 == len(words) or words[i + 1].end > limit:
        return True
    return is_number(words[i + 1]) or words[i + 1].key in HOMOPHONES


def is_number(word: TimedWord) -> bool:
    """A figure or a number word ("4", "four", "oh", "twenty"), or a letter spelled out
    ("d", "a", "s", "h"): what is read out one by one, with pauses between."""
    key = word.key
    return key.replace(".", "").isdigit() or key in NUMBER_WORDS or len(key) == 1


def before_pause(words: tuple[TimedWord, ...], i: int, pauses: tuple[Pause, ...]) -> Pause | None:
    """The first of ``pauses`` that ``words[i]`` is the last word before, if any: the
    word's middle lies before the pause, the next decoded word's (if any) after it, and
    the word does not go on well past an earlier pause."""
    w = words[i]
    nxt = words[i + 1] if i + 1 < len(words) else None
    if w.end - w.start > MAX_PAUSE_WORD_S:
        return None  # stretched over audio not heard yet (a word the next decode may add)
    for p in sorted(pauses, key=lambda p: p.start):
        if (w.start + w.end) / 2 <= p.start:
            return p if nxt is None or (nxt.start + nxt.end) / 2 >= p.end else None
        if p.start > w.start and w.end - p.end > 0.2:
            return None  # the word goes on 200+ ms past a pause: two words, or one unheard
    return None


def repeats(words: tuple[TimedWord, ...], longest: int = 3) -> bool:
    """Whether a phrase of up to ``longest`` words comes twice in a row."""
    keys = [w.key for w in words]
    for n in range(1, longest + 1):
        for i in range(len(keys) - 2 * n + 1):
            if keys[i : i + n] == keys[i + n : i + 2 * n]:
                return True
    return False


class LocalAgreement:
    """One party's commit policy over the partial decodes of its open segment."""

    def __init__(self, config: CommitConfig | None = None) -> None:
        self.config = config or CommitConfig()
        self._segment: str | None = None
        self._prev: tuple[TimedWord, ...] = ()
        self.commits = 0

    def reset(self) -> None:
        self._segment = None
        self._prev = ()

    def hypothesis(
        self,
        segment_id: str,
        start: float,
        end: float,
        words: tuple[TimedWord, ...],
        pauses: tuple[Pause, ...] = (),
        settled: float | None = None,
    ) -> Commit | None:
        """A partial decode of ``segment_id`` (audio ``start``..``end`` s) in order, and
        the VAD's pauses in it; returns the words to finalise now, if any (the
        agreement then starts over).  ``settled`` (s): a mixed stream's speakers are
        known up to there; past it a word is cut only before a pause (a turn hands
        over in one, and a change the diarizer finds later is placed there)."""
        if segment_id != self._segment:
            self._segment, self._prev = segment_id, ()
        n = agreed(self._prev, words)
        self._prev = words
        cfg = self.config
        heard = end - cfg.guard_ms / 1000  # words ending by then are heard whole
        limit = heard if settled is None else min(heard, settled)
        # a word before a pause the decode heard is done: the guard is for words still said
        pauses = tuple(p for p in pauses if p.start + cfg.pause_heard_ms / 1000 <= end)
        cut_at, pause = None, None
        for i in reversed(range(n)):
            if words[i].end - start < cfg.min_ms / 1000:
                break
            pause = before_pause(words, i, pauses)
            # a spelling goes on over any pause: a letter's unvoiced end ("s", "h") sounds
            # like one, and a letter alone decodes as nothing ("s h" read as "")
            long = (pause is not None and not is_letter(words[i])
                    and pause.end - pause.start >= cfg.number_pause_ms / 1000)  # fmt: skip
            if not long and in_number(words, i, heard):
                continue  # a number read out pauses between its digits: not a place to cut
            if pause is not None or words[i].end <= limit and ends_clause(words[i]):
                cut_at = i
                break
        stable = [i for i in range(n) if words[i].end <= limit]
        if cut_at is None and stable and words[stable[-1]].end - start >= cfg.force_ms / 1000:
            # forced: not inside a number read out (a word before it will do; else no cut:
            # the number ends at a pause, or at the VAD's hard limit)
            cut_at = next((i for i in reversed(stable) if not is_number(words[i])), None)
        if cut_at is None or repeats(words[: cut_at + 1]):
            return None  # a repeat is a decoder loop on clipped audio: the final decides
        last = words[cut_at]
        after = words[cut_at + 1].start if cut_at + 1 < len(words) else end
        cut = min(end, last.end + max(0.0, min(0.1, (after - last.end) / 2)))
        if pause is not None:  # in the pause's first half: a word end stretched over the next
            cut = min(end, max(pause.start, min(cut, (pause.start + pause.end) / 2)))
        self.reset()
        self.commits += 1
        return Commit(segment_id, words[: cut_at + 1], start, cut, pause is not None)


def after_seam(result: AsrResult, offset_s: float, seam: Seam, tail_words: int = 5) -> AsrResult:
    """``result`` (a decode whose audio starts at ``offset_s``, before ``seam.cut``)
    without what the commit already finalised: up to the longest run of the committed
    tail it repeats near the cut, however its words split it, else the words that end
    before the cut."""
    if not result.words:
        return result
    words = list(result.words)
    said = ""  # what the words near the cut say (:func:`spoken`), run together
    starts, ends = {0}, {}  # where a word's says begin in ``said``; where one ends: its index
    for i, key in ((i, norm(w.text)) for i, w in enumerate(words)):
        if key and offset_s + words[i].start >= seam.cut + 0.3:
            break
        if key:
            said += "".join(spoken(key))
            ends[len(said)] = i
            starts.add(len(said))
    drop = -1  # the longest committed tail repeated, however the words split it ("key words")
    for k in range(min(tail_words, len(seam.tail)), 0, -1):
        tail = "".join(seam.tail[-k:])
        hits = [j for j in starts if said.startswith(tail, j) and j + len(tail) in ends]
        if hits:
            drop = ends[max(hits) + len(tail)]
            break
    if drop < 0:
        while drop + 1 < len(words) and offset_s + words[drop + 1].end <= seam.cut + 0.05:
            drop += 1
    del words[: drop + 1]
    while words and not norm(words[0].text):
        words.pop(0)
    # nothing of the rest starts before the cut: a decoder that skipped the committed words
    # in the overlap stretches its first word back over them ("No" timed 70.36-71.74 s for
    # 71.4-71.8 s), and a word that long is never cut at a pause
    floor = seam.cut - offset_s
    words = [w if w.start >= floor else replace(w, start=floor, end=max(w.end, floor))
             for w in words]  # fmt: skip
    if words == list(result.words):
        return result
    text = "".join(w.text for w in words).strip()
    return replace(result, text=text, words=tuple(words))


def lost_its_way(result: AsrResult | None) -> bool:
    """Whether the guards dropped words the decoder heard (not silence or no speech)."""
    return result is not None and result.rejected not in (None, "empty", "no_speech")


def final_event(call_id: str, party: str, commit: Commit, now_s: float) -> TranscriptFinal:
    """The final a commit emits (``now_s``: the call clock when it goes out)."""
    words = tuple(Word(w.text.strip(), w.start, w.end, w.probability) for w in commit.words)
    return TranscriptFinal(
        call_id, party, commit.segment_id, commit.start, commit.cut, commit.text, now_s, words
    )
