"""Card data redaction (PCI), sans-I/O: finds what to mask in a final's or a partial's tokens.

:class:`Redactor` is fed one party's transcript text as tokens (a final's
words, or a partial's text split on spaces) and returns :class:`Hit` spans of
token indices with a kind: ``"card"`` (13-19 digits passing Luhn, said as
digits, number words or groups), ``"expiry"`` (``12/26``, "twelve twenty six"
right after a card, or any month-and-year after "expires"), ``"cvv"`` (3-4
digits after "security code", "CVV", "CVC", or right after an expiry), or a
configured pattern's name (a regex over the text).  It keeps, per stream, the
last final's trailing digits (at most 19) and whether a card was just read, so
that a number split over two finals is found from the later one.  A final that
:func:`may_continue` (it ends in digits a card could go on from) is held back
by :class:`pipeline.redaction.EventRedactor` and judged again together with the
party's next final(s) (``final(..., commit=False)`` judges without keeping state).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .numwords import MONTHS, Run, luhn, norm, runs

CARD_MIN, CARD_MAX = 13, 19
CARD_FIRST = "23456"  # Mastercard 2-series, Amex/Diners 3, Visa 4, Mastercard 5, Discover 6
PROVISIONAL_MIN = 4  # a partial's run of this many digits may be (part of) a card being read
HOLD_MIN_DIGITS = 4  # a final ending in fewer digits is not held (PCI lets the first 6 show)
EXPIRY_WORDS = {"expiry", "expires", "expiration", "exp", "expiring", "valid", "thru", "through"}
CVV_WORDS = {"cvv", "cvc", "cv2", "cvv2", "csc", "cid", "cvn"}
FILLER = {
    "is",
    "it's",
    "its",
    "date",
    "on",
    "the",
    "number",
    "code",
    "of",
    "end",
    "until",
    "and",
    "at",
    "um",
    "uh",
}
_RANK = {n: k for k, n in enumerate((16, 15, 19, 14, 13, 17, 18))}  # common lengths first
_SLASH = re.compile(r"^(0?[1-9]|1[0-2])/(\d{2}|\d{4})$")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(frozen=True, slots=True)
class RedactionConfig:
    """``[redaction]``: what to mask in transcripts before they leave the pipeline."""

    cards: bool = True  # card numbers, expiry dates, security codes
    patterns: tuple[tuple[str, str], ...] = ()  # (name, regex) masked as "[name]"
    redact_audio: bool = False  # silence the archive's audio of the masked words
    # a final ending in digits a card could go on from waits this long (call clock)
    # at most for the party's next final; 0: finals are never held
    hold_ms: int = 12_000

    def __post_init__(self) -> None:
        for name, regex in self.patterns:
            if not _NAME.match(name) or name in ("card", "expiry", "cvv"):
                raise ValueError(f"patterns: bad name {name!r} (a-z, 0-9, _; not card/expiry/cvv)")
            try:
                re.compile(regex)
            except re.error as err:
                raise ValueError(f"patterns: {name}: not a valid regex ({err})") from None
        if not 0 <= self.hold_ms <= 60_000:
            raise ValueError(f"hold_ms: must be within 0..60000, got {self.hold_ms}")

    @property
    def enabled(self) -> bool:
        return self.cards or bool(self.patterns)


@dataclass(frozen=True, slots=True)
class Hit:
    """Tokens ``first..last`` (inclusive) are masked as ``[kind]``."""

    first: int
    last: int
    kind: str

    @property
    def mask(self) -> str:
        return f"[{self.kind}]"


@dataclass(slots=True)
class _Stream:
    tail: Run | None = None  # the last final's trailing run (ending at its last token)
    tail_tokens: list[str] = field(default_factory=list)
    ended: str = ""  # the kind of the hit that ended the last final ("card", "expiry"), or ""


class Redactor:
    """Per-(call, party) state; :meth:`final` updates it, :meth:`partial` only reads it."""

    def __init__(self, config: RedactionConfig) -> None:
        self.config = config
        self._patterns = [(name, re.compile(rx)) for name, rx in config.patterns]
        self._streams: dict[tuple[str, str], _Stream] = {}

    def forget(self, call_id: str, party: str | None = None) -> None:
        """Drop a stream's state (party left) or a whole call's (call ended)."""
        for key in [k for k in self._streams if k[0] == call_id and party in (None, k[1])]:
            del self._streams[key]

    def final(
        self, call_id: str, party: str, tokens: list[str], *, commit: bool = True
    ) -> list[Hit]:
        """The hits in a final; ``commit``: keep its trailing digits and ending for the next."""
        keep = _spoken(tokens)
        said = [tokens[i] for i in keep]
        if not commit:
            state = self._streams.get((call_id, party)) or _Stream()
            return _back(self._find(state, said)[0], keep)
        state = self._streams.setdefault((call_id, party), _Stream())
        hits, norms = self._find(state, said)
        found = runs(norms)
        last = found[-1] if found else None
        if last is not None and last.last == len(norms) - 1 and len(last.digits) < CARD_MAX:
            if not any(h.first <= last.last <= h.last for h in hits):
                state.tail, state.tail_tokens = last, norms[last.first :]
            else:
                state.tail = None
        else:
            state.tail = None
        ending = [h for h in hits if all(n in FILLER for n in norms[h.last + 1 :])]
        state.ended = ending[-1].kind if ending else ""
        return _back(hits, keep)

    def partial(
        self, call_id: str, party: str, tokens: list[str], held: list[str] | None = None
    ) -> list[Hit]:
        """Best effort: as a final, plus what any run of 4+ digits has left unmasked as
        ``card?`` (it may be part of a card being read: the final decides).

        ``held``: the tokens of the party's finals held back, judged before ``tokens``.
        """
        lead = held or []
        keep = _spoken(lead + tokens)
        said = [(lead + tokens)[i] for i in keep]
        state = self._streams.get((call_id, party)) or _Stream()
        hits, norms = self._find(state, said)
        if self.config.cards:
            for run in runs(norms):
                if len(run.digits) >= PROVISIONAL_MIN:
                    hits += _uncovered(hits, run.first, run.last, "card?")
        hits = _back(hits, keep)
        n = len(lead)
        out = [
            Hit(max(h.first, n) - n, h.last - n, h.kind) for h in hits if h.last >= n
        ]  # hits in the held part are the held finals' business
        return sorted(out, key=lambda h: h.first)

    # -- finding ------------------------------------------------------------
    def _find(self, state: _Stream, tokens: list[str]) -> tuple[list[Hit], list[str]]:
        norms = [norm(t) for t in tokens]
        hits: list[Hit] = []
        if self.config.cards:
            hits = _cards(state, norms)
        for name, rx in self._patterns:
            hits += [
                h for h in _regex_hits(name, rx, tokens) if not _covered(hits, h.first, h.last)
            ]
        return sorted(hits, key=lambda h: h.first), norms


def may_continue(tokens: list[str], hits: list[Hit]) -> bool:
    """Whether a final ends in digits a card number could go on from in the next one.

    Its last run (at least :data:`HOLD_MIN_DIGITS` digits, not masked) has a token
    start on a possible first digit (2-6) with fewer than 19 digits from there.
    """
    keep = _spoken(tokens)
    found = runs([norm(tokens[i]) for i in keep])
    if not found or found[-1].last != len(keep) - 1 or _covered(hits, keep[-1], len(tokens)):
        return False
    run = found[-1]
    if len(run.digits) < HOLD_MIN_DIGITS:
        return False
    return _could_open(run)


def _could_open(run: Run) -> bool:
    """Whether a card could start in the run and go on past its end (fewer than 19 digits)."""
    return any(
        run.digits[o] in CARD_FIRST and len(run.digits) - o < CARD_MAX for o, _ in run.starts()
    )


def _uncovered(hits: list[Hit], first: int, last: int, kind: str) -> list[Hit]:
    """Hits over the stretches of tokens ``first..last`` that no hit covers yet."""
    out: list[Hit] = []
    start = None
    for i in range(first, last + 2):
        free = i <= last and not _covered(hits, i, i)
        if free and start is None:
            start = i
        elif not free and start is not None:
            out.append(Hit(start, i - 1, kind))
            start = None
    return out


def _spoken(tokens: list[str]) -> list[int]:
    """The indices of the tokens that say something (an ASR's lone "," says nothing)."""
    return [i for i, t in enumerate(tokens) if norm(t)]


def _back(hits: list[Hit], keep: list[int]) -> list[Hit]:
    """Hits on the spoken tokens as hits on all tokens (punctuation inside a span goes too)."""
    return [Hit(keep[h.first], keep[h.last], h.kind) for h in hits]


def _cards(state: _Stream, norms: list[str]) -> list[Hit]:
    hits: list[Hit] = []
    found = runs(norms)
    for k, run in enumerate(found):
        lead = state.tail if k == 0 and run.first == 0 else None
        hits += _card_windows(run, lead)
    i = 0
    while i < len(norms):
        if _covered(hits, i, i):
            i += 1
            continue
        hit = _cvv_at(norms, found, i, hits, state.ended) or _expiry_at(
            norms, found, i, hits, state.ended
        )
        if hit is None:
            i += 1
            continue
        hits.append(hit)
        i = hit.last + 1
    return sorted(hits, key=lambda h: h.first)


def _card_windows(run: Run, lead: Run | None) -> list[Hit]:
    """Card numbers in a run, longest first, not overlapping; ``lead``: the last final's tail."""
    starts = [(o, t) for o, t in run.starts()]
    digits = run.digits
    offset = 0
    if lead is not None:
        offset = len(lead.digits)
        digits = lead.digits + run.digits
        starts = [(o, -1) for o, _ in lead.starts()] + [(o + offset, t) for o, t in starts]
    ends = [(o + offset, t) for o, t in run.ends()]
    hits: list[Hit] = []
    taken = -1  # digit offset up to which a card was found
    for so, st in starts:
        if so < taken or digits[so] not in CARD_FIRST:
            continue
        valid = [(eo, et) for eo, et in ends if eo - so in _RANK and luhn(digits[so:eo])]
        if valid:
            best = min(valid, key=lambda e: _RANK[e[0] - so])
            first = run.first if st == -1 else st
            hits.append(Hit(first, best[1], "card"))
            taken = best[0]
    return hits


def _expiry_at(
    norms: list[str], found: list[Run], i: int, hits: list[Hit], ended: str
) -> Hit | None:
    if _SLASH.match(norms[i]):
        return Hit(i, i, "expiry")
    labelled = _after_label(norms, i, EXPIRY_WORDS)
    if not (labelled or _follows(norms, hits, i, "card", ended)):
        return None
    if norms[i] in MONTHS:
        year = _run_at(found, i + 1)
        if year is not None and len(year.digits) in (2, 4):
            return Hit(i, year.last, "expiry")
        return Hit(i, i, "expiry") if labelled else None
    rest = _rest(found, i, hits)
    if rest is None:
        return None
    run, at = rest
    spans = [(eo - at, et) for eo, et in run.ends() if eo > at]
    for size in (4, 6, 3) if labelled else (4, 6):
        for length, last in spans:
            if length == size and _is_expiry(run.digits[at : at + size]):
                return Hit(i, last, "expiry")
    return None


def _is_expiry(digits: str) -> bool:
    """MMYY, MYY or MM/YYYY spoken as digits ("12 26", "4 27", "0 4 2 7")."""
    if len(digits) == 4:
        return 1 <= int(digits[:2]) <= 12
    if len(digits) == 3:
        return digits[0] != "0"
    if len(digits) == 6:
        return 1 <= int(digits[:2]) <= 12 and digits[2:4] == "20"
    return False


def _cvv_at(norms: list[str], found: list[Run], i: int, hits: list[Hit], ended: str) -> Hit | None:
    rest = _rest(found, i, hits)
    if rest is None or len(rest[0].digits) - rest[1] not in (3, 4):
        return None
    run = rest[0]
    labelled = _after_label(norms, i, CVV_WORDS) or _after_phrase(norms, i, "security")
    after_expiry = _follows(norms, hits, i, "expiry", ended)
    return Hit(i, run.last, "cvv") if labelled or after_expiry else None


def _after_label(norms: list[str], i: int, labels: set[str]) -> bool:
    """Whether a label word comes right before token i, with filler words in between."""
    j = i - 1
    while j >= 0 and norms[j] in FILLER and i - j <= 4:
        j -= 1
    return j >= 0 and norms[j] in labels


def _after_phrase(norms: list[str], i: int, word: str) -> bool:
    """ "security code is ..." / "security number ...": ``word`` then filler before token i."""
    j = i - 1
    while j >= 0 and norms[j] in FILLER and i - j <= 4:
        j -= 1
    return j >= 0 and norms[j] == word or j >= 1 and norms[j - 1] == word and norms[j] in FILLER


def _follows(norms: list[str], hits: list[Hit], i: int, kind: str, ended: str) -> bool:
    """Whether token i comes right after a ``kind`` hit (filler between), or opens the
    final (filler before) and the stream's last final ``ended`` with one."""
    j = i - 1
    while j >= 0 and norms[j] in FILLER and i - j <= 4:
        j -= 1
    if j < 0:
        return ended == kind
    return any(h.kind == kind and h.first <= j <= h.last for h in hits)


def _rest(found: list[Run], i: int, hits: list[Hit]) -> tuple[Run, int] | None:
    """The run going on from token i (its start, or right after a masked span) and i's offset."""
    run = _run_at(found, i)
    if run is None or not (run.first == i or _covered(hits, i - 1, i - 1)):
        return None
    starts = dict((t, o) for o, t in run.starts())
    return (run, starts[i]) if i in starts else None


def _run_at(found: list[Run], i: int) -> Run | None:
    return next((r for r in found if r.first <= i <= r.last), None)


def _covered(hits: list[Hit], first: int, last: int) -> bool:
    return any(h.first <= last and first <= h.last for h in hits)


def _regex_hits(name: str, rx: re.Pattern[str], tokens: list[str]) -> list[Hit]:
    """A configured pattern over the tokens joined by spaces, back to token spans."""
    text, spans, pos = "", [], 0
    for t in tokens:
        spans.append((pos, pos + len(t)))
        text += t + " "
        pos += len(t) + 1
    hits = []
    for m in rx.finditer(text):
        if m.end() <= m.start():
            continue
        inside = [k for k, (a, b) in enumerate(spans) if a < m.end() and m.start() < b]
        if inside:
            hits.append(Hit(inside[0], inside[-1], name))
    return hits
