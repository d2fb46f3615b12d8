"""Phrase alerts: configured phrases or regular expressions in a party's finals.

Sans-I/O: :class:`AlertMatcher` takes a :class:`~records.events.TranscriptFinal`
and returns the :class:`~records.events.Alert` events it raises, nothing else.
Matching is on normalised text (:func:`normalise`): lower case, punctuation
removed (a hyphen or slash separates words, other marks are dropped: "don't" is
"dont", "1,000" is "1000"), number words as digits ("one" is "1", "twenty one"
and "twenty-one" are "21"; larger numbers are left as words), whitespace
collapsed.  Phrases match whole words; a regex is searched in the normalised
text as written.  A rule fires at most once per final (its earliest match), so
a final that says a phrase twice raises one alert for that rule.  The match's
start and end come from the final's word times when it has words, else they are
the final's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from records.events import Alert, TranscriptFinal

UNITS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_TENS_WORDS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
TENS = {w: 10 * (i + 2) for i, w in enumerate(_TENS_WORDS)}
_SEPARATORS = re.compile(r"[-/\u2010-\u2015]")
_MARKS = re.compile(r"[^\w\s]|_")


def _words(text: str) -> list[str]:
    """One piece of text as its normalised words, before numbers are folded."""
    return _MARKS.sub("", _SEPARATORS.sub(" ", text.lower())).split()


def _fold(tokens: list[tuple[str, int]]) -> list[tuple[str, int, int]]:
    """Number words as digits: (token, first source index, last source index)."""
    out: list[tuple[str, int, int]] = []
    i = 0
    while i < len(tokens):
        word, at = tokens[i]
        if word in TENS:
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            if nxt is not None and 1 <= UNITS.get(nxt[0], 0) <= 9:
                out.append((str(TENS[word] + UNITS[nxt[0]]), at, nxt[1]))
                i += 2
                continue
            out.append((str(TENS[word]), at, at))
        elif word in UNITS:
            out.append((str(UNITS[word]), at, at))
        else:
            out.append((word, at, at))
        i += 1
    return out


def normalise(text: str) -> str:
    """``text`` as alerts compare it: see the module's description."""
    return " ".join(t for t, _, _ in _fold([(w, 0) for w in _words(text)]))


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One ``[[alerts]]`` table: phrases and/or a regex, for one party or all."""

    name: str
    phrases: tuple[str, ...] = ()
    regex: str | None = None
    party: str | None = None
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("name: must not be empty")
        if not self.phrases and self.regex is None:
            raise ValueError("phrases, regex: give phrases or a regex (or both)")
        parts = []
        for phrase in self.phrases:
            norm = normalise(phrase)
            if not norm:
                raise ValueError(f"phrases: {phrase!r} has no words once normalised")
            parts.append(r"(?<!\S)" + re.escape(norm) + r"(?!\S)")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as err:
                raise ValueError(f"regex: not a valid regular expression ({err})") from None
            parts.append(f"(?:{self.regex})")
        object.__setattr__(self, "_pattern", re.compile("|".join(parts)))

    def search(self, text: str) -> re.Match[str] | None:
        """The earliest non-empty match in normalised ``text``."""
        for m in self._pattern.finditer(text):
            if m.end() > m.start():
                return m
        return None


class AlertMatcher:
    """The alerts a final raises, one per matching rule, in rule order."""

    def __init__(self, rules: tuple[AlertRule, ...] | list[AlertRule]) -> None:
        self.rules = tuple(rules)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def match(self, final: TranscriptFinal) -> list[Alert]:
        rules = [r for r in self.rules if r.party is None or r.party == final.party]
        if not rules or not final.text.strip():
            return []
        timed = bool(final.words)
        pieces = [w.text for w in final.words] if timed else final.text.split()
        tokens = _fold([(w, i) for i, piece in enumerate(pieces) for w in _words(piece)])
        text = " ".join(t for t, _, _ in tokens)
        starts, pos = [], 0  # char offset of each token in ``text``
        for t, _, _ in tokens:
            starts.append(pos)
            pos += len(t) + 1
        alerts = []
        for rule in rules:
            m = rule.search(text)
            if m is None:
                continue
            covered = [
                k for k, s in enumerate(starts) if s < m.end() and s + len(tokens[k][0]) > m.start()
            ]
            first, last = tokens[covered[0]][1], tokens[covered[-1]][2]
            matched = " ".join(p.strip() for p in pieces[first : last + 1])
            if timed:
                start, end = final.words[first].start, final.words[last].end
            else:
                start, end = final.start, final.end
            alerts.append(
                Alert(final.call_id, final.party, rule.name, final.segment_id, final.text,
                      matched, start, end, final.emitted_at)
            )  # fmt: skip
        return alerts
