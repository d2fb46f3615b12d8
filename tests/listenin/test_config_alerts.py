"""[[alerts]] tables: rules reach the app config; a bad one is one error naming it."""

from __future__ import annotations

import pytest

from listenin.config import ConfigError, load_config


def write(tmp_path, text: str):
    path = tmp_path / "listenin.toml"
    path.write_text(text)
    return path


def test_alert_tables_become_rules(tmp_path):
    app = load_config(write(tmp_path, """
[[alerts]]
name = "cancel"
party = "customer"
phrases = ["cancel my account", "close the account"]

[[alerts]]
name = "money"
regex = "\\\\d+ dollars"
"""))  # fmt: skip
    assert [(r.name, r.party, r.phrases, r.regex) for r in app.alerts] == [
        ("cancel", "customer", ("cancel my account", "close the account"), None),
        ("money", None, (), r"\d+ dollars"),
    ]
    assert load_config(write(tmp_path, "")).alerts == ()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('name = "bad"\nregex = "(unclosed"',
         '[[alerts]] "bad": regex: not a valid regular expression (missing ), unterminated'),
        ('name = "none"', '[[alerts]] "none": phrases, regex: give phrases or a regex'),
        ('phrases = ["x"]', "[[alerts]] #1: name: missing (required)"),
        ('name = "p"\nphrases = "x"', '[[alerts]] "p": phrases: expected an array of strings'),
        ('name = "k"\nphrase = ["x"]', '[[alerts]] "k": phrase: unknown key (known: name, party'),
        ('name = "d"\nphrases = ["x"]\n[[alerts]]\nname = "d"\nregex = "y"',
         '[[alerts]] "d": name: another [[alerts]] table has this name'),
    ],
)  # fmt: skip
def test_a_bad_alert_is_one_error_naming_it(tmp_path, body, message):
    path = write(tmp_path, "[[alerts]]\n" + body + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: {message}"), str(err.value)
    assert "\n" not in str(err.value)


def test_alerts_must_be_an_array_of_tables(tmp_path):
    with pytest.raises(ConfigError, match=r"alerts: must be an array of tables"):
        load_config(write(tmp_path, '[alerts]\nname = "x"\n'))
