"""Redaction applied to events: masked finals and partials, and the redaction events."""

from pipeline.redact import RedactionConfig
from pipeline.redaction import MAX_HELD, EventRedactor
from records.events import (
    CallEnded,
    PartyLeft,
    Redaction,
    TranscriptFinal,
    TranscriptPartial,
    Word,
)

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


def _f(seg, text, start, party="p"):
    words = tuple(
        Word(t, start + k * 0.5, start + k * 0.5 + 0.4, 0.9) for k, t in enumerate(text.split())
    )
    return TranscriptFinal("c", party, seg, start, words[-1].end, text, words[-1].end + 0.5, words)


def _texts(events):
    return [(type(e).__name__, getattr(e, "text", getattr(e, "kind", ""))) for e in events]


def test_a_card_split_over_two_finals_is_masked_in_both():
    redactor = EventRedactor(RedactionConfig())
    first = _f("s1", "my card is 4532 0151", 0.0)
    assert redactor.apply(first) == []  # held: a card may go on from 4532 0151
    assert redactor.holding == 1
    out = redactor.apply(_f("s2", "1283 0366 thanks", 4.0))
    assert _texts(out) == [
        ("TranscriptFinal", "my card is [card]"), ("Redaction", "card"),
        ("TranscriptFinal", "[card] thanks"), ("Redaction", "card"),
    ]  # fmt: skip
    assert (out[1].start, out[1].end, out[1].segment_id) == (1.5, 2.4, "s1")  # its own words
    assert (out[3].start, out[3].end, out[3].segment_id) == (4.0, 4.9, "s2")
    assert out[0].emitted_at == first.emitted_at and redactor.holding == 0
    assert not any(d in e.to_json() for e in out for d in ("4532", "0151", "1283", "0366"))


def test_a_card_read_over_three_finals_in_words_is_masked_in_all():
    redactor = EventRedactor(RedactionConfig())
    assert redactor.apply(_f("s1", "four five three two", 0.0)) == []
    assert redactor.apply(_f("s2", "zero one five one one two", 2.5)) == []
    out = redactor.apply(_f("s3", "eight three zero three six six", 5.0))
    assert [e.text for e in out if isinstance(e, TranscriptFinal)] == ["[card]"] * 3
    assert [e.kind for e in out if isinstance(e, Redaction)] == ["card"] * 3


def test_an_order_number_is_released_unmasked_by_the_next_final():
    redactor = EventRedactor(RedactionConfig())
    order = _f("s1", "my order number is 4521 7788", 0.0)
    assert redactor.apply(order) == []
    thanks = _f("s2", "and that is all", 5.0)
    assert redactor.apply(thanks) == [order, thanks]  # unmasked, in order


def test_a_phone_number_that_ends_the_talk_waits_no_longer_than_the_bound():
    redactor = EventRedactor(RedactionConfig(hold_ms=8000))
    phone = _f("s1", "call me on 555 867 5309", 0.0)  # fails Luhn; ends in digits
    assert redactor.apply(phone) == []
    assert redactor.tick("other-call", 100.0) == []
    assert redactor.tick("c", phone.emitted_at + 7.99) == []
    assert redactor.tick("c", phone.emitted_at + 8.0) == [phone]
    assert redactor.holding == 0 and redactor.tick("c", 200.0) == []


def test_another_partys_event_tells_the_time_and_party_left_releases():
    redactor = EventRedactor(RedactionConfig(hold_ms=2000))
    phone = _f("s1", "it's 555 867 5309", 0.0)
    redactor.apply(phone)
    late = TranscriptPartial("c", "q", "t1", 5.0, 6.0, "okay", phone.emitted_at + 2.0)
    assert redactor.apply(late) == [phone, late]
    order = _f("s2", "order 4521 7788", 10.0)
    redactor.apply(order)
    left = PartyLeft("c", "p", 14.0)
    assert redactor.apply(left) == [order, left]


def test_call_end_releases_and_hold_zero_never_holds():
    redactor = EventRedactor(RedactionConfig())
    half = _f("s1", "4532 0151", 0.0)
    redactor.apply(half)
    ended = CallEnded("c", 3.0, 3.0)
    assert redactor.apply(ended) == [half, ended]
    assert EventRedactor(RedactionConfig(hold_ms=0)).apply(half) == [half]


def test_a_partial_after_a_held_final_masks_the_rest_of_the_card():
    redactor = EventRedactor(RedactionConfig())
    redactor.apply(_f("s1", "4532 0151", 0.0))
    (partial,) = redactor.apply(TranscriptPartial("c", "p", "s2", 2.0, 3.0, "1283 0366 ok", 3.1))
    assert partial.text == "[card] ok"


def test_at_most_max_held_finals_wait():
    redactor = EventRedactor(RedactionConfig())
    outs = [redactor.apply(_f(f"s{k}", "5 5 5 5", 2.0 * k)) for k in range(MAX_HELD)]
    assert [len(o) for o in outs] == [0] * (MAX_HELD - 1) + [MAX_HELD]


def test_commas_the_asr_gives_as_words_do_not_break_a_card():
    redactor = EventRedactor(RedactionConfig())
    assert redactor.apply(_f("s1", "you entered 4 5 3 2 0 1 5 1", 0.0)) == []
    out = redactor.apply(_f("s2", "1 , 2 , 8 , 3 , 0 , 3 , 6 , 6", 5.0))
    assert [e.text for e in out if isinstance(e, TranscriptFinal)] == [
        "you entered [card]",
        "[card]",
    ]


def test_a_partial_masks_what_a_found_card_leaves_of_its_digit_run():
    redactor = EventRedactor(RedactionConfig())
    partial = TranscriptPartial("c", "p", "s", 0.0, 3.0, "4532015112830366 0 3 6 6 1 2", 3.1)
    (masked,) = redactor.apply(partial)
    assert masked.text == "[card] [expiry] [card?]"  # "0 3 6 6" reads as 03/66 after a card
