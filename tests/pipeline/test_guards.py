import pytest

from pipeline.guards import (
    GuardConfig,
    collapse_repeats,
    compression_ratio,
    rejection_reason,
    trim_loop,
)


def words(s):
    return s.split()


def keep(s, n=2):
    w = words(s)
    return " ".join(w[i] for i in collapse_repeats(w, n))


def test_collapse_repeats():
    assert keep("thank you thank you thank you thank you so much") == "thank you thank you so much"
    assert keep("no no no no") == "no no"
    assert keep("a b c d") == "a b c d"
    assert keep("Yes. yes, YES yes") == "Yes. yes,"


def test_trim_loop_cuts_a_wrapped_decode():
    w = words("how can I help you how can I help")
    assert w[: trim_loop(w)] == words("how can I help you")
    assert trim_loop(words("a b c d e")) == 5


def test_compression_ratio_flags_loops():
    assert compression_ratio("") == 0.0
    assert compression_ratio("the same words " * 20) > 2.4
    assert compression_ratio("a normal sentence about a refund") < 2.4


@pytest.mark.parametrize(
    "text,dur,nsp,lp,reason",
    [
        ("", 1.0, 0.0, 0.0, "empty"),
        ("thank you", 1.0, 0.9, -1.2, "no_speech"),
        ("thank you", 1.0, 0.1, -2.0, "low_confidence"),
        ("la " * 40, 10.0, 0.1, -0.2, "compression_ratio"),
        ("one two three four five six seven eight nine ten", 0.5, 0.1, -0.2, "too_many_words"),
        ("I would like a refund", 1.5, 0.2, -0.3, None),
    ],
)
def test_rejection_reason(text, dur, nsp, lp, reason):
    assert rejection_reason(text, dur, nsp, lp, GuardConfig()) == reason


def test_config_validated():
    with pytest.raises(ValueError):
        GuardConfig(no_speech_prob=2)
