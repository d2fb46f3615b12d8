"""Config values checked strictly against their field types, errors naming the key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from records.settings import (
    SettingError,
    check_env_name,
    check_value,
    field_types,
    read_table,
    show,
)


@dataclass(frozen=True)
class Sample:
    root: Path
    name: str = "x"
    size_ms: int = 1
    rate_s: float = 1.0
    on: bool = True
    limit: int | None = None
    tags: tuple[str, ...] = ()


def test_good_values_pass_and_floats_accept_integers():
    hints, required = field_types(Sample)
    assert required == ["root"]
    got = read_table(
        {"root": "/r", "size_ms": 5, "rate_s": 2, "on": False, "limit": 3, "tags": ["a"]},
        hints,
        "sample",
    )
    assert got == {"root": Path("/r"), "size_ms": 5, "rate_s": 2.0, "on": False, "limit": 3,
                   "tags": ("a",)}  # fmt: skip
    assert isinstance(got["rate_s"], float)


@pytest.mark.parametrize(
    ("value", "hint", "problem"),
    [
        ("false", bool, 'expected a boolean (true or false), got "false"'),
        (1, bool, "expected a boolean (true or false), got 1"),
        (True, int, "expected an integer, got true"),
        (1.5, int, "expected an integer, got 1.5"),
        ("1", int, 'expected an integer, got "1"'),
        (False, float, "expected a number, got false"),
        (float("nan"), float, "expected a finite number, got nan"),
        (float("inf"), float, "expected a finite number, got inf"),
        (5, str, "expected a string, got 5"),
        ("a\x1bb", str, r'must not contain control characters, got "a\u001bb"'),
        ("", Path, 'expected a non-empty path, got ""'),
        (" ", Path, 'expected a non-empty path, got " "'),
        (None, Path, "expected a non-empty path, got None"),
        ("s", tuple[str, ...], 'expected an array of strings, got "s"'),
        ([""], tuple[str, ...], "must not hold an empty string"),
        ([1], tuple[str, ...], "expected a string, got 1"),
        ("3", int | None, 'expected an integer, got "3"'),
        ({"a": 1}, str, "expected a string, got a table"),
        ("x" * 200, int, 'expected an integer, got "xxxxxxxx'),
    ],
)
def test_wrong_types_are_refused_with_the_key_and_the_value(value, hint, problem):
    with pytest.raises(SettingError) as err:
        check_value(value, hint, "k")
    assert err.value.key == "k" and problem in err.value.message
    assert len(str(err.value)) < 120 and "\n" not in str(err.value)


def test_unknown_and_missing_keys_and_a_non_table_name_the_section():
    hints, required = field_types(Sample)
    with pytest.raises(SettingError, match="unknown key") as err:
        read_table({"root": "/r", "colour": 1}, hints, "sample", required)
    assert (err.value.section, err.value.name, err.value.key) == ("sample", "colour",
                                                                  "sample.colour")  # fmt: skip
    with pytest.raises(SettingError, match="missing") as err:
        read_table({}, hints, "sample", required)
    assert err.value.key == "sample.root"
    with pytest.raises(SettingError, match=r"must be a table \(\[a.b\]\), got 3") as err:
        read_table(3, hints, "a.b")  # type: ignore[arg-type]
    assert (err.value.section, err.value.name) == ("a", "b")
    with pytest.raises(SettingError) as err:
        read_table({"a\nb": 1}, hints, "sample")
    assert err.value.name == '"a\\nb"'  # a key is shown on one line too
    with pytest.raises(SettingError) as err:
        read_table({"size_ms": "5"}, hints, "sample")
    assert err.value.key == "sample.size_ms"


def test_environment_variable_names():
    check_env_name("LISTENIN_WS_TOKEN", "token_env")
    for bad in ("", "A B", "1A", "A=B", "X" * 200):
        with pytest.raises(SettingError, match="environment variable name"):
            check_env_name(bad, "token_env", "server")


def test_show_spells_values_like_toml():
    assert [show(True), show("a"), show(1.5), show([1, "a"]), show({})] == [
        "true", '"a"', "1.5", 'an array [1, "a"]', "a table"]  # fmt: skip
