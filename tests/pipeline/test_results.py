"""pipeline/results.py: decoder results as transcript events."""

from pipeline.results import spoken


def test_a_decode_without_a_letter_or_digit_is_not_speech():
    assert spoken(". .") == "" and spoken(" , ") == "" and spoken("") == ""
    assert spoken(" 4.") == " 4." and spoken("Okay.") == "Okay."
