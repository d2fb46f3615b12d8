"""The scoring of ``bench.conversation`` on tiny hand-made references and finals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from bench.conversation import (
    Heard,
    assign,
    combine,
    doubled,
    dtmf_digits,
    heard_words,
    measure,
    summary,
    targets,
    view,
)
from listenin.wer import normalize
from records.events import TranscriptFinal, Word

REF = {
    "utterances": [
        {"party": "agent", "start": 0.0, "end": 1.0, "text": "hello there", "kind": "sentence"},
        {"party": "customer", "start": 1.2, "end": 2.0, "text": "one nine", "kind": "short"},
        {"party": "agent", "start": 5.0, "end": 6.0, "text": "d a", "kind": "short"},
    ],
    "spans": [{"kind": "music", "party": "agent", "start": 2.5, "end": 4.5}],
    "dtmf": [{"party": "customer", "digit": "7", "start": 4.6, "end": 4.7}],
}


def final(party: str, start: float, end: float, emitted: float, words: list[tuple], speaker=None):
    ws = tuple(Word(t, s, e, 0.9, sp) for t, s, e, sp in words)
    text = " ".join(w.text for w in ws)
    return TranscriptFinal("c", party, "s", start, end, text, emitted, ws, speaker)


def test_heard_words_normalises_and_spreads_untimed_text():
    timed = final("agent", 0, 1, 1.5, [("1984.", 0.0, 1.0, None)], speaker="agent")
    untimed = TranscriptFinal("c", "agent", "s", 2.0, 3.0, "Hello, there!", 3.2)
    words = heard_words([untimed, timed])
    assert [w.text for w in words] == ["one", "nine", "eight", "four", "hello", "there"]
    assert all(w.speaker == "agent" for w in words[:4]) and words[4].speaker is None
    assert (words[4].start, words[4].end, words[5].start, words[5].end) == (2.0, 2.5, 2.5, 3.0)


def test_assign_puts_words_in_spans_only_away_from_speech():
    v = view(REF, "agent")
    words = [Heard("la", 3.0, 3.2, None, 5.0), Heard("hello", 0.1, 0.4, None, 1.2),
             Heard("a", 5.5, 5.6, None, 6.5), Heard("a", 4.9, 4.98, None, 6.5)]  # fmt: skip
    per_utt, in_spans = assign(v, words)
    assert [w.text for w in in_spans] == ["la"]
    assert [[w.text for w in ws] for ws in per_utt] == [["hello"], ["a", "a"]]


def test_doubled_counts_words_heard_more_often_than_said():
    assert doubled("one", ["one", "one"]) == 1
    assert doubled("d a s h", ["d", "a", "s", "h"]) == 0
    assert doubled("seven three zero five", normalize("7 3 3 0 5 5")) == 2
    assert doubled("no", ["know"]) == 0  # a wrong word is WER's business, not a double


def test_measure_and_summary_on_a_mixed_stream():
    finals = [
        final("mixed", 0, 2, 2.4, [("hello", 0.1, 0.5, "agent"), ("there", 0.5, 0.9, "customer"),
                                   ("one", 1.3, 1.5, "customer"), ("nine", 1.5, 1.9, "customer"),
                                   ("nine", 1.9, 1.95, "customer")]),
        final("mixed", 2.6, 3.0, 3.5, [("music", 2.6, 3.0, "agent")]),
        final("mixed", 5, 6, 7.0, [("d", 5.1, 5.3, None), ("a", 5.5, 5.8, None)], speaker="agent"),
    ]  # fmt: skip
    m = measure(view(REF, None), finals)
    assert m.ref_words == 6 and m.edits == 2  # one "nine" and "music" inserted
    assert sorted(m.latencies) == pytest.approx([0.4, 1.0, 1.4])
    assert m.doubled_short == m.doubled_all == 1 and m.span_words == ("music",)
    out = summary(m, combine([m]), labelled=True)
    assert out["attribution"] == round(6 / 7, 4)  # "there" labelled customer, said by agent
    assert out["attribution_swapped"] == round(1 / 7, 4)
    assert out["wer"] == out["oracle_wer"] == round(2 / 6, 4)
    assert out["utterances_heard"] == "3/3"


def test_per_party_measures_combine_and_judge_targets():
    agent = [
        final("agent", 0, 1, 1.2, [("hello", 0, 0.5, None), ("there", 0.5, 1, None)]),
        final("agent", 5, 6, 6.3, [("d", 5, 5.4, None), ("a", 5.5, 6, None)]),
    ]
    a = measure(view(REF, "agent"), agent)
    c = measure(view(REF, "customer"), [])
    both = combine([a, c])
    assert (both.ref_words, both.edits, both.utterances) == (6, 2, 3)
    party = summary(both, both, labelled=False)
    assert "attribution" not in party and party["utterances_heard"] == "2/3"
    mixed = dict(party, attribution=0.95)
    got = targets({"party": party, "mixed": mixed})
    assert got["mixed_attribution_ge_90pct"] and got["party_final_p95_le_1.5s"]
    assert got["party_wer_within_10pct_of_oracle"] and got["mixed_no_text_in_dtmf_music_noise"]
    worse = dict(party, wer=0.5, oracle_wer=0.3, final_latency_p95_s=None, span_words=1)
    got = targets({"party": worse, "mixed": dict(mixed, attribution=0.8)})
    assert not any(got[k] for k in ("mixed_attribution_ge_90pct", "party_final_p95_le_1.5s",
                                    "party_wer_within_10pct_of_oracle",
                                    "party_no_text_in_dtmf_music_noise"))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Key:
    """A stand-in record of the ``dtmf`` event type another change adds."""

    type: ClassVar[str] = "dtmf"
    call_id: str
    digit: str
    start: float


def test_dtmf_digits_read_in_time_order_and_absent_is_empty():
    assert dtmf_digits([]) == ""
    assert dtmf_digits([final("a", 0, 1, 1, [])]) == ""
    assert dtmf_digits([Key("c", "3", 2.0), Key("c", "7", 1.0)]) == "73"
