from listenin.wer import normalize, word_error_rate


def test_normalize_spells_numbers_and_drops_punctuation():
    assert normalize("Order 47291, on the 3rd; 12 Garden-Street!") == [
        "order", "four", "seven", "two", "nine", "one", "on", "the", "third",
        "twelve", "garden", "street",
    ]  # fmt: skip


def test_wer():
    assert word_error_rate("a b c d", "a x c") == 0.5
    assert word_error_rate("", "") == 0.0
    assert word_error_rate("", "extra") == 1.0
    assert word_error_rate("It is 5.", "it is five") == 0.0
