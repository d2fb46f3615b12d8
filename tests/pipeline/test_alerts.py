"""Phrase alerts: normalisation, party filter, regex, word-time spans, numbers."""

from __future__ import annotations

import pytest

from pipeline.alerts import AlertMatcher, AlertRule, normalise
from records.events import Alert, TranscriptFinal, Word


def final(text: str, party: str = "customer", words: bool = True) -> TranscriptFinal:
    ws = tuple(Word(" " + w, 10.0 + i, 10.5 + i, 0.9) for i, w in enumerate(text.split()))
    return TranscriptFinal("c1", party, "s1", 10.0, 20.0, text, 21.0, ws if words else ())


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Hello,  World!", "hello world"),
        ("I'll pay $1,000.", "ill pay 1000"),
        ("twenty-one  Twenty one 21", "21 21 21"),
        ("one two three", "1 2 3"),
        ("thirty, forty five", "30 45"),
        ("twenty twenty", "20 20"),
        ("one hundred", "1 hundred"),
    ],
)
def test_normalise(text, want):
    assert normalise(text) == want


def test_a_phrase_matches_on_word_boundaries_with_the_matched_words_times():
    m = AlertMatcher([AlertRule("cancel", phrases=("Cancel my account",))])
    (alert,) = m.match(final("Please, CANCEL my account now."))
    assert alert == Alert("c1", "customer", "cancel", "s1", "Please, CANCEL my account now.",
                          "CANCEL my account", 11.0, 13.5, 21.0)  # fmt: skip
    assert m.match(final("please cancel my accounts")) == []
    assert m.match(final("uncancel my account")) == []


def test_digits_and_number_words_are_the_same():
    m = AlertMatcher([AlertRule("n", phrases=("press 1",)), AlertRule("age", phrases=("21",))])
    assert [a.matched for a in m.match(final("press one then twenty one"))] == [
        "press one", "twenty one"]  # fmt: skip
    (a,) = m.match(final("i am twenty-one"))
    assert (a.rule, a.matched, a.start, a.end) == ("age", "twenty-one", 12.0, 12.5)
    assert [a.rule for a in m.match(final("press 1 at 21"))] == ["n", "age"]


def test_party_filter():
    m = AlertMatcher([AlertRule("x", phrases=("refund",), party="customer")])
    assert len(m.match(final("a refund", party="customer"))) == 1
    assert m.match(final("a refund", party="agent")) == []


def test_regex_on_the_normalised_text():
    m = AlertMatcher([AlertRule("money", regex=r"\b\d+ dollars\b")])
    (a,) = m.match(final("It costs forty five dollars, right?"))
    assert (a.matched, a.start, a.end) == ("forty five dollars,", 12.0, 14.5)


def test_once_per_rule_per_final_the_earliest_match():
    m = AlertMatcher([AlertRule("x", phrases=("no", "stop"))])
    (a,) = m.match(final("stop it no no stop"))
    assert (a.matched, a.start) == ("stop", 10.0)


def test_without_words_the_finals_times_and_text():
    m = AlertMatcher([AlertRule("x", phrases=("my account",))])
    (a,) = m.match(final("Close my account.", words=False))
    assert (a.matched, a.start, a.end) == ("my account.", 10.0, 20.0)


def test_empty_finals_and_no_rules_raise_nothing():
    assert AlertMatcher([AlertRule("x", regex=".*")]).match(final("")) == []
    assert AlertMatcher([AlertRule("x", regex="z*")]).match(final("abc")) == []
    assert AlertMatcher([]).match(final("abc")) == [] and not AlertMatcher([])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "phrases, regex: give phrases or a regex"),
        ({"regex": "(unclosed"}, "regex: not a valid regular expression"),
        ({"phrases": ("?!",)}, "phrases: '?!' has no words"),
    ],
)
def test_bad_rules_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("?", r"\?")):
        AlertRule("x", **kwargs)


def test_the_event_serialises():
    a = Alert("c1", "agent", "x", "s1", "t", "t", 1.0, 2.0, 3.0)
    assert a.to_dict()["type"] == "alert" and a.to_dict()["matched"] == "t"
