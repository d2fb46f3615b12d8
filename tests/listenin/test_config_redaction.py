"""The [redaction] table: defaults, patterns, and one precise line per mistake."""

import pytest

from listenin.config import ConfigError, load_config
from pipeline.redact import RedactionConfig


def _load(tmp_path, text):
    path = tmp_path / "listenin.toml"
    path.write_text(text)
    return load_config(path)


def test_no_table_masks_cards(tmp_path):
    assert load_config(None).redaction == RedactionConfig()
    assert _load(tmp_path, "[server]\nport = 1\n").redaction.cards is True


def test_patterns_and_cards_reach_the_config(tmp_path):
    app = _load(tmp_path, "[redaction]\ncards = false\n[redaction.patterns]\nemail = '\\S+@\\S+'\n")
    assert app.redaction == RedactionConfig(cards=False, patterns=(("email", r"\S+@\S+"),))


def test_redact_audio_and_hold_reach_the_config(tmp_path):
    app = _load(tmp_path, "[redaction]\nredact_audio = true\nhold_ms = 3000\n")
    assert app.redaction == RedactionConfig(redact_audio=True, hold_ms=3000)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[redaction]\ncards = "yes"', "[redaction] cards: expected a boolean"),
        (
            "[redaction]\nfoo = 1",
            "[redaction] foo: unknown key (known: cards, patterns, redact_audio, hold_ms)",
        ),
        ("[redaction]\nhold_ms = 70000", "[redaction] hold_ms: must be within 0..60000"),
        ("[redaction]\npatterns = 3", "[redaction] patterns: must be a table"),
        ("[redaction.patterns]\nx = 3", "[redaction] patterns.x: expected a regex string"),
        ('[redaction.patterns]\nx = "("', "[redaction] patterns: x: not a valid regex"),
        ('[redaction.patterns]\ncvv = "x"', "[redaction] patterns: bad name 'cvv'"),
        ("redaction = 3", "redaction: must be a table"),
    ],
)
def test_mistakes_are_one_line(tmp_path, text, needle):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text)
    assert needle in str(err.value) and "\n" not in str(err.value)
