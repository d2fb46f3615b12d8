"""Spoken numbers to digit runs, and the Luhn check."""

import pytest

from pipeline.numwords import luhn, norm, runs


def _runs(text):
    return [r.digits for r in runs([norm(t) for t in text.split()])]


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("four five three two", ["4532"]),
        ("forty five thirty two", ["4532"]),
        ("forty-five thirty", ["4530"]),
        ("twelve twenty six", ["1226"]),
        ("oh four two seven", ["0427"]),
        ("double seven triple 3", ["77333"]),
        ("4532 0151, 1283-0366.", ["4532015112830366"]),
        ("room 12 and 34", ["12", "34"]),
        ("oh I see, one two", ["12"]),
        ("Four. Five!", ["45"]),
        ("no numbers here", []),
    ],
)
def test_runs(text, digits):
    assert _runs(text) == digits


def test_a_completing_token_says_no_digits_of_its_own():
    (run,) = runs("forty five six".split())
    assert run.digits == "456"
    assert run.starts() == [(0, 0), (2, 2)]  # never inside "forty five"
    assert run.ends() == [(2, 1), (3, 2)]
    assert run.token_at(1) == 0 and run.token_at(2) == 2


@pytest.mark.parametrize(
    ("digits", "ok"),
    [
        ("4532015112830366", True),
        ("4532015112830367", False),
        ("79927398713", True),
        ("378282246310005", True),
        ("0", False),
    ],
)
def test_luhn(digits, ok):
    assert luhn(digits) is ok
