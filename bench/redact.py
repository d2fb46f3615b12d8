"""Card data redaction: recall on spoken card numbers, false redactions, CPU per final.

``python -m bench.redact`` says 20 generated card numbers in four forms (digit
groups, number words, two-digit groups, split over two finals, each with an
expiry and a security code) and 20 ordinary numbers (order numbers, phone
numbers, amounts), runs them as finals through
:class:`pipeline.redaction.EventRedactor` (finals held back as live) and
prints the recall, the false redactions, how long ordinary numbers were held
and the CPU time per final.  Then it replays ``fixtures/card_*`` (real
recorded digits; Whisper ``tiny.en``; ``--no-asr`` skips it) through the
outputs with ``redact_audio`` and reports the recall on its spoken card data
in every published text, the ordinary numbers kept, and how much of the
recorded secret audio the archive silenced.  The last line is one JSON object.
"""

from __future__ import annotations

import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

from pipeline.numwords import luhn, norm, runs
from pipeline.redact import RedactionConfig
from pipeline.redaction import EventRedactor
from records.events import CallEnded, Redaction, TranscriptFinal, Word

ROOT = Path(__file__).resolve().parents[1]

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


def _final(call: str, seg: int, text: str, start_s: float) -> TranscriptFinal:
    words = tuple(
        Word(t, start_s + k * 0.4, start_s + k * 0.4 + 0.3, 0.9) for k, t in enumerate(text.split())
    )
    end = words[-1].end
    return TranscriptFinal(call, "caller", f"s{seg}", start_s, end, text, end + 0.5, words)


def _shown(events: list) -> str:
    """The digits the published finals still show (each final's runs, masks left out)."""
    out = ""
    for e in events:
        if isinstance(e, TranscriptFinal):
            out += " " + "".join(r.digits for r in runs([norm(t) for t in e.text.split()]))
    return out


def measure() -> dict[str, float]:
    config = RedactionConfig()
    caught = complete = leaked = finals = 0
    spent = 0.0
    cases = said_cards()
    for k, (number, said) in enumerate(cases):
        redactor = EventRedactor(config)
        out: list = []
        for n, text in enumerate(said):
            t0 = time.process_time()
            out += redactor.apply(_final(f"c{k}", n, text, 3.0 * n))
            spent += time.process_time() - t0
            finals += 1
        out += redactor.apply(CallEnded(f"c{k}", 20.0, 20.0))
        kinds = {e.kind for e in out if isinstance(e, Redaction)}
        shown = _shown(out)
        wanted = {"card", "expiry"} | (
            {"cvv"} if len(said) == 1 or "security" in said[1] else set()
        )
        caught += "card" in kinds
        complete += wanted <= kinds
        leaked += any(number[i : i + 4] in shown for i in range(len(number) - 3))
    false = held = 0
    longest_s = 0.0
    for k, text in enumerate(ORDINARY):
        redactor = EventRedactor(config)
        final = _final(f"o{k}", 0, text, 0.0)
        t0 = time.process_time()
        out = redactor.apply(final)
        spent += time.process_time() - t0
        finals += 1
        now = final.emitted_at
        while not out:  # held: the audio tap tells the time every 20 ms
            now += 0.02
            out = redactor.tick(f"o{k}", now)
        held += now > final.emitted_at
        longest_s = max(longest_s, now - final.emitted_at)
        false += any(isinstance(e, Redaction) for e in out)
    return {
        "cards": len(cases),
        "card_recall": caught / len(cases),
        "card_expiry_cvv_recall": complete / len(cases),
        "cards_with_4_digits_shown": leaked,
        "false_redactions": false,
        "ordinary": len(ORDINARY),
        "ordinary_held": held,
        "ordinary_longest_hold_s": round(longest_s, 2),
        "cpu_us_per_final": spent / finals * 1e6,
    }


def _digits(text: str) -> str:
    """The digits a text says, as figures or as words ("5, 5" and "five, five")."""
    return (
        re.sub(r"\D", "", text)
        + " "
        + "".join(r.digits for r in runs(list(map(norm, text.split()))))
    )


def measure_fixture() -> dict[str, float]:
    """fixtures/card_* replayed through Whisper tiny.en and every output, redact_audio on."""
    import io

    import numpy as np
    import soundfile as sf

    from listenin.replay import load_party, replay
    from listenin.service import Outputs
    from models import resolve
    from pipeline.asr import WhisperConfig, WhisperEngine
    from pipeline.runtime import Pipeline, PipelineConfig
    from sinks.archive import ArchiveConfig
    from sinks.layout import REDACT_MARGIN_MS
    from sinks.terminal import JsonlRenderer

    ref = json.loads((ROOT / "fixtures" / "card.json").read_text())
    engine = WhisperEngine(resolve("tiny.en"), WhisperConfig(num_workers=2))
    with tempfile.TemporaryDirectory() as tmp:
        terminal = io.StringIO()
        outputs = Outputs(archive=ArchiveConfig(Path(tmp)), renderer=JsonlRenderer(terminal),
                          redaction=RedactionConfig(redact_audio=True))  # fmt: skip
        heard: list = []
        outputs.add_listener(heard.append)
        outputs.start()
        pipeline = Pipeline(engine, outputs.on_event, PipelineConfig(asr_workers=2))
        parties = [load_party(p, ROOT / "fixtures" / f) for p, f in ref["parties"].items()]
        try:
            replay(pipeline, "card", parties, realtime=False, tap=outputs.on_audio)
        finally:
            pipeline.close()
            outputs.close()
        (wav,) = Path(tmp).rglob("customer.wav")
        audio = sf.read(wav, dtype="int16")[0]
        texts = [line.split("] ", 1)[-1] for p in Path(tmp).rglob("transcript.txt")
                 for line in p.read_text().splitlines()]  # fmt: skip
    texts += [json.loads(line).get("text", "") for line in terminal.getvalue().splitlines()]
    said = [_digits(t) for t in texts]
    card, expiry, code = ref["secret_digits"]
    groups = [card[k : k + 4] for k in range(0, len(card), 4)] + [expiry[1:], code]
    hidden = [g for g in groups if not any(g in s for s in said)]
    finals = _digits(" ".join(e.text for e in heard if isinstance(e, TranscriptFinal)))
    kept = [n for n in ref["ordinary"] if n[-7:] in finals]
    rate, margin = ref["sample_rate"], REDACT_MARGIN_MS / 1000
    spoken = np.zeros(audio.size, dtype=bool)
    for secret in ref["secrets"]:
        for a, b in secret["spans"]:
            spoken[round(a * rate) : round(b * rate)] = True
    silent = np.zeros(audio.size, dtype=bool)
    for e in heard:
        if isinstance(e, Redaction) and e.party == "customer":
            silent[max(0, round((e.start - margin) * rate)) : round((e.end + margin) * rate)] = True
    return {
        "fixture_secret_groups": len(groups),
        "fixture_recall": len(hidden) / len(groups),
        "fixture_ordinary_kept": len(kept),
        "fixture_ordinary": len(ref["ordinary"]),
        "fixture_secret_audio_silenced": round(float(silent[spoken].mean()), 3),
        "fixture_other_audio_silenced_s": round(float((silent & ~spoken).sum() / rate), 2),
        "fixture_redactions": sum(isinstance(e, Redaction) for e in heard),
    }


if __name__ == "__main__":
    result = measure()
    if "--no-asr" not in sys.argv[1:]:
        result |= measure_fixture()
    for key, value in result.items():
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
    print(json.dumps({"bench": "redact", **result}))
