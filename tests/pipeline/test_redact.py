"""Finding card numbers, expiry dates, security codes and patterns in a party's tokens."""

import pytest

from bench.redact import ORDINARY, as_groups, as_pairs, as_words, said_cards
from pipeline.redact import RedactionConfig, Redactor

CARD = "4532015112830366"


def _said(redactor, text, party="caller"):
    tokens = text.split()
    return [
        (" ".join(tokens[h.first : h.last + 1]), h.kind) for h in redactor.final("c", party, tokens)
    ]


@pytest.mark.parametrize("form", [as_groups, as_words, as_pairs, str])
def test_a_card_in_every_spoken_form(form):
    said = form(CARD)
    assert _said(Redactor(RedactionConfig()), f"it is {said} thanks") == [(said, "card")]


def test_expiry_and_security_code_after_a_card():
    text = f"{as_pairs(CARD)} twelve twenty six and the security code is one two three"
    assert _said(Redactor(RedactionConfig()), text) == [
        (as_pairs(CARD), "card"), ("twelve twenty six", "expiry"), ("one two three", "cvv"),
    ]  # fmt: skip


def test_card_expiry_and_code_in_one_run_of_digits():
    text = f"{as_words(CARD)} one two two six four four one"
    assert [k for _, k in _said(Redactor(RedactionConfig()), text)] == ["card", "expiry", "cvv"]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("expires 0 4 2 7", "expiry"),
        ("it expires april twenty seven", "expiry"),
        ("valid thru 12/2026", "expiry"),
        ("the CVV is 123", "cvv"),
        ("CVC: 4 5 6 7", "cvv"),
        ("security code seven seven one", "cvv"),
    ],
)
def test_labelled_expiry_and_code_without_a_card(text, kind):
    assert [k for _, k in _said(Redactor(RedactionConfig()), text)] == [kind]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_numbers_stay(text):
    assert _said(Redactor(RedactionConfig()), text) == []


def test_an_unlabelled_date_stays_without_a_card():
    assert _said(Redactor(RedactionConfig()), "see you twelve twenty six") == []


def test_a_number_split_over_two_finals_is_masked_in_the_second():
    redactor = Redactor(RedactionConfig())
    assert _said(redactor, f"the number is {as_words(CARD[:8])}") == []  # already out
    assert _said(redactor, f"{as_words(CARD[8:])} twelve twenty six") == [
        (as_words(CARD[8:]), "card"), ("twelve twenty six", "expiry"),
    ]  # fmt: skip
    assert _said(redactor, "one two three") == [("one two three", "cvv")]  # after the expiry


def test_streams_are_separate_and_forgotten():
    redactor = Redactor(RedactionConfig())
    _said(redactor, as_words(CARD[:8]))
    assert _said(redactor, as_words(CARD[8:]), party="agent") == []  # the other party
    _said(redactor, as_words(CARD[:8]))
    redactor.forget("c")
    assert _said(redactor, as_words(CARD[8:])) == []


def test_every_generated_card_is_found():
    for _, finals in said_cards():
        redactor = Redactor(RedactionConfig())
        kinds = {k for text in finals for _, k in _said(redactor, text)}
        assert {"card", "expiry"} <= kinds


def test_partials_mask_a_card_being_read_provisionally():
    redactor = Redactor(RedactionConfig())
    hits = redactor.partial("c", "caller", "my card is 4532 0151 1283".split())
    assert [(h.first, h.last, h.mask) for h in hits] == [(3, 5, "[card?]")]
    assert redactor.partial("c", "caller", "room 110 at 9".split()) == []
    # 4+ digits: masked until the final decides (a phone number too)
    hits = redactor.partial("c", "caller", "call 555 1234".split())
    assert [(h.first, h.last, h.mask) for h in hits] == [(1, 2, "[card?]")]


def test_patterns_from_the_config():
    config = RedactionConfig(patterns=(("email", r"\S+@\S+"), ("ssn", r"\b\d{3} \d{2} \d{4}\b")))
    text = "mail bob@example.com ssn 123 45 6789 ok"
    assert _said(Redactor(config), text) == [("bob@example.com", "email"), ("123 45 6789", "ssn")]


def test_cards_off_leaves_cards():
    assert _said(Redactor(RedactionConfig(cards=False)), as_groups(CARD)) == []


@pytest.mark.parametrize(
    "config",
    [
        {"patterns": (("Bad Name", "x"),)},
        {"patterns": (("card", "x"),)},
        {"patterns": (("x", "("),)},
        {"hold_ms": -1},
        {"hold_ms": 60_001},
    ],
)
def test_bad_configs_are_refused(config):
    with pytest.raises(ValueError):
        RedactionConfig(**config)
