"""Spoken numbers to digits, token by token (sans-I/O): the parsing half of redaction.

A final's words ("four five three two", "forty five thirty two", "4532",
"double seven") become *runs*: maximal stretches of consecutive numeric tokens,
each token knowing which digits of the run it said.  :mod:`pipeline.redact`
finds card numbers, expiry dates and security codes in the runs and masks the
tokens behind them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UNITS = {
    "zero": 0, "oh": 0, "o": 0, "nought": 0, "one": 1, "two": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
}  # fmt: skip
TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
TENS = {
    "twenty": 2, "thirty": 3, "forty": 4, "fourty": 4, "fifty": 5, "sixty": 6,
    "seventy": 7, "eighty": 8, "ninety": 9,
}  # fmt: skip
REPEAT = {"double": 2, "triple": 3}
MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_DIGITS = re.compile(r"^\d+(?:[-.]\d+)*$")
_EDGE = re.compile(r"^[^\w/]+|[^\w/]+$")


def norm(token: str) -> str:
    """A token lower-cased, without the punctuation around it ("Four," -> "four")."""
    return _EDGE.sub("", token.lower())


def luhn(digits: str) -> bool:
    """Whether a digit string passes the Luhn check (the check digit of card numbers)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return len(digits) > 1 and total % 10 == 0


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive numeric tokens ``first..last`` (inclusive) and the digits they said.

    ``bounds[k]`` is the digit offset at which token ``first + k`` begins; a
    token that only completes its neighbour ("forty *five*") says no digits of
    its own, so digit windows only start and end where a token starts or ends.
    """

    first: int
    last: int
    digits: str
    bounds: tuple[int, ...]  # one per token, then len(digits)

    def _says(self, k: int) -> bool:
        return self.bounds[k + 1] > self.bounds[k]

    def starts(self) -> list[tuple[int, int]]:
        """(digit offset, token index) where a digit window may start."""
        n = self.last - self.first + 1
        return [(self.bounds[k], self.first + k) for k in range(n) if self._says(k)]

    def ends(self) -> list[tuple[int, int]]:
        """(exclusive digit offset, last token index) where a digit window may end."""
        n = self.last - self.first + 1
        out = []
        for k in range(n):
            completed = k + 1 < n and not self._says(k + 1)  # "forty | five"
            if not completed:
                out.append((self.bounds[k + 1], self.first + k))
        return out

    def token_at(self, offset: int) -> int:
        """The token that said digit ``offset``."""
        n = self.last - self.first + 1
        return self.first + max(k for k in range(n) if self._says(k) and self.bounds[k] <= offset)


def _said(tokens: list[str], i: int) -> tuple[str, int]:
    """The digits that tokens[i...] say and how many tokens that took; ("", 0): not numeric."""
    word = tokens[i]
    nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
    if _DIGITS.match(word):
        return re.sub(r"\D", "", word), 1
    if word in UNITS:
        return str(UNITS[word]), 1
    if word in TEENS:
        return str(TEENS[word]), 1
    if word in TENS:
        if nxt in UNITS and UNITS[nxt] > 0 and nxt not in ("o", "oh"):
            return f"{TENS[word]}{UNITS[nxt]}", 2
        return f"{TENS[word]}0", 1
    if "-" in word:  # "forty-five"
        head, _, tail = word.partition("-")
        if head in TENS and tail in UNITS and UNITS[tail] > 0:
            return f"{TENS[head]}{UNITS[tail]}", 1
    if word in REPEAT and (nxt in UNITS or _DIGITS.match(nxt) and len(nxt) == 1):
        digit = str(UNITS[nxt]) if nxt in UNITS else nxt
        return digit * REPEAT[word], 2
    return "", 0


def runs(tokens: list[str]) -> list[Run]:
    """The numeric runs among normalised tokens (see :func:`norm`)."""
    out: list[Run] = []
    i = 0
    while i < len(tokens):
        said, used = _said(tokens, i)
        if not used or _lone_o(tokens, i):
            i += 1
            continue
        first, digits, bounds = i, "", []
        while used and not _lone_o(tokens, i):
            bounds.append(len(digits))
            digits += said
            for _ in range(used - 1):
                bounds.append(len(digits))  # the completing token says nothing itself
            i += used
            said, used = _said(tokens, i) if i < len(tokens) else ("", 0)
        out.append(Run(first, i - 1, digits, (*bounds, len(digits))))
    return out


def _lone_o(tokens: list[str], i: int) -> bool:
    """ "o"/"oh" is a zero only between other numeric tokens ("oh, I see" is not)."""
    if tokens[i] not in ("o", "oh"):
        return False
    before = i > 0 and _said(tokens, i - 1)[1] > 0 and tokens[i - 1] not in ("o", "oh")
    after = i + 1 < len(tokens) and _said(tokens, i + 1)[1] > 0
    return not (before or after)
