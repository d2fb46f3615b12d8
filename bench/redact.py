"""Card data redaction: recall on spoken card numbers, false redactions, CPU per final.

``python -m bench.redact`` says 20 generated card numbers in four forms (digit
groups, number words, two-digit groups, split over two finals, each with an
expiry and a security code) and 20 ordinary numbers (order numbers, phone
numbers, amounts), runs them through :class:`pipeline.redact.Redactor` and
prints the recall, the false redactions and the CPU time per final.
"""

from __future__ import annotations

import random
import time

from pipeline.numwords import luhn, norm, runs
from pipeline.redact import RedactionConfig, Redactor

UNIT = "zero one two three four five six seven eight nine".split()
TEEN = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
PREFIXES = (("4", 16), ("51", 16), ("55", 16), ("37", 15), ("6011", 16), ("2221", 16), ("4", 13))


def card(rng: random.Random) -> str:
    """A random card number with a valid Luhn check digit."""
    prefix, length = rng.choice(PREFIXES)
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return next(body + d for d in "0123456789" if luhn(body + d))


def as_words(digits: str) -> str:
    """Digit by digit: "four five three two"."""
    return " ".join(UNIT[int(d)] for d in digits)


def as_pairs(digits: str) -> str:
    """Two digits at a time: "forty five thirty two oh one ..." (a last odd digit alone)."""
    out = []
    for k in range(0, len(digits) - 1, 2):
        a, b = int(digits[k]), int(digits[k + 1])
        if a == 0:
            out.append(f"oh {UNIT[b]}")
        elif a == 1:
            out.append(TEEN[b])
        else:
            out.append(TENS[a] if b == 0 else f"{TENS[a]} {UNIT[b]}")
    if len(digits) % 2:
        out.append(UNIT[int(digits[-1])])
    return " ".join(out)


def as_groups(digits: str) -> str:
    """Digits in groups of four: "4532 0151 1283 0366"."""
    return " ".join(digits[k : k + 4] for k in range(0, len(digits), 4))


def said_cards(n: int = 20, seed: int = 7) -> list[tuple[str, list[str]]]:
    """(card number, the finals that say it with an expiry and a security code)."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        number = card(rng)
        form = k % 4
        if form == 0:
            finals = [f"my card number is {as_groups(number)} expiry 12/26 cvv 123"]
        elif form == 1:
            finals = [f"it's {as_words(number)} expires oh four two seven",
                      "and the security code is seven seven one"]  # fmt: skip
        elif form == 2:
            finals = [f"{as_pairs(number)} twelve twenty six", "security code four two one"]
        else:
            half = len(number) // 2
            finals = [f"the number is {as_words(number[:half])}",
                      f"{as_words(number[half:])} expires twelve twenty six"]  # fmt: skip
        out.append((number, finals))
    return out


ORDINARY = [
    "my order number is 1234567890123",
    "call me back on 555 867 5309",
    "the phone number is 0 2 0 7 9 4 6 0 0 0 0",
    "reference four four five two one nine eight seven six five",
    "it cost two hundred and forty five dollars",
    "ticket 4532015112830367",
    "my account is 12345678",
    "that was in twenty twenty six",
    "the zip code is nine oh two one oh",
    "room three twelve on the fourth floor",
    "order 1 2 3 4 5 6 7 8 9 0",
    "tracking number 9400 1000 0000 0000 0000 00",
    "I have twelve items and twenty six boxes",
    "the code is 4 4 4 4",
    "invoice 2026 0412 3357",
    "extension four five six seven",
    "policy number 7 7 7 7 7 7 7 7 7 7",
    "it is twelve twenty six in the afternoon",
    "my number is plus four four seven nine one one one two three four five six",
    "we shipped 45 units on the 3rd",
]


def measure() -> dict[str, float]:
    config = RedactionConfig()
    caught = complete = leaked = finals = 0
    spent = 0.0
    cases = said_cards()
    for k, (number, said) in enumerate(cases):
        redactor = Redactor(config)
        kinds: set[str] = set()
        shown = ""
        for text in said:
            tokens = text.split()
            t0 = time.process_time()
            hits = redactor.final(f"c{k}", "caller", tokens)
            spent += time.process_time() - t0
            finals += 1
            kinds |= {h.kind for h in hits}
            masked = {i for h in hits for i in range(h.first, h.last + 1)}
            kept = [norm(t) for i, t in enumerate(tokens) if i not in masked]
            shown += "".join(r.digits for r in runs(kept))
        wanted = {"card", "expiry"} | (
            {"cvv"} if len(said) == 1 or "security" in said[1] else set()
        )
        caught += "card" in kinds
        complete += wanted <= kinds
        leaked += any(number[i : i + 4] in shown for i in range(len(number) - 3))
    false = 0
    for k, text in enumerate(ORDINARY):
        t0 = time.process_time()
        hits = Redactor(config).final(f"o{k}", "caller", text.split())
        spent += time.process_time() - t0
        finals += 1
        false += bool(hits)
    return {
        "cards": len(cases),
        "card_recall": caught / len(cases),
        "card_expiry_cvv_recall": complete / len(cases),
        "cards_with_4_digits_shown": leaked,
        "false_redactions": false,
        "ordinary": len(ORDINARY),
        "cpu_us_per_final": spent / finals * 1e6,
    }


if __name__ == "__main__":
    for key, value in measure().items():
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
