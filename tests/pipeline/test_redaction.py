"""Redaction applied to events: masked finals and partials, and the redaction events."""

from pipeline.redact import RedactionConfig
from pipeline.redaction import EventRedactor
from records.events import PartyLeft, Redaction, TranscriptFinal, TranscriptPartial, Word

CARD = "4532015112830366"


def test_a_final_without_word_times_is_masked_on_its_text():
    final = TranscriptFinal("c", "p", "s", 1.0, 4.0, f"card {CARD}, thanks", 4.2)
    masked, redaction = EventRedactor(RedactionConfig()).apply(final)
    assert masked.text == "card [card] thanks" and masked.words == ()
    assert redaction == Redaction("c", "p", "s", "card", 1.0, 4.0, 4.2)


def test_masked_words_keep_their_times_and_speaker():
    words = tuple(Word(t, k, k + 0.5, 0.8 - k / 100, "A") for k, t in enumerate(["is", CARD, "ok"]))
    final = TranscriptFinal("c", "p", "s", 0.0, 2.5, f"is {CARD} ok", 3.0, words)
    masked, redaction = EventRedactor(RedactionConfig()).apply(final)
    assert masked.words[1] == Word("[card]", 1, 1.5, 0.79, "A")
    assert (redaction.start, redaction.end) == (1, 1.5)
    assert CARD not in masked.to_json() and CARD not in redaction.to_json()


def test_nothing_to_mask_returns_the_same_event():
    redactor = EventRedactor(RedactionConfig())
    final = TranscriptFinal("c", "p", "s", 0.0, 1.0, "hello 42", 1.0)
    partial = TranscriptPartial("c", "p", "s", 0.0, 1.0, "hello 42", 1.0)
    assert redactor.apply(final)[0] is final and redactor.apply(partial)[0] is partial


def test_a_partial_is_masked_without_a_redaction_event():
    partial = TranscriptPartial("c", "p", "s", 0.0, 1.0, "it's 4532 0151 1283", 1.0, 3)
    (masked,) = EventRedactor(RedactionConfig()).apply(partial)
    assert masked.text == "it's [card?]" and masked.revision == 3


def test_party_left_forgets_the_stream():
    redactor = EventRedactor(RedactionConfig())
    redactor.apply(TranscriptFinal("c", "p", "s1", 0.0, 1.0, CARD[:8], 1.0))
    redactor.apply(PartyLeft("c", "p", 1.5))
    (rest,) = redactor.apply(TranscriptFinal("c", "p", "s2", 2.0, 3.0, CARD[8:], 3.0))
    assert rest.text == CARD[8:]
