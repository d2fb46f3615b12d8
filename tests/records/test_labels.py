"""Labels from the network: control characters replaced, length bounded."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from records.labels import MAX_LABEL_CHARS, clean_label, is_clean


def test_control_characters_become_question_marks():
    assert clean_label("a\x1b[31mb\x00c\td\ne\x7ff\x85g\x9bh") == "a?[31mb?c?d?e?f?g?h"
    assert clean_label("\u202eevil\u2028\u200b\ufeff") == "?evil???"
    assert clean_label("Ünïcødé agent 李") == "Ünïcødé agent 李"  # printable text stays


def test_labels_are_cut_short():
    assert clean_label("x" * 1000) == "x" * MAX_LABEL_CHARS
    assert clean_label("abcdef", 3) == "abc"


@given(st.text())
def test_any_text_comes_out_printable_and_bounded(text):
    out = clean_label(text)
    assert is_clean(out) and len(out) <= MAX_LABEL_CHARS
    assert all(a == b or b == "?" for a, b in zip(text, out, strict=False))
