"""Values of a configuration table (parsed TOML), checked against the types they must have.

Every reader of the config file (``[server]``, ``[archive]``, ``[platforms.*]``)
checks its table with :func:`read_table` before a frozen config dataclass sees
it; the dataclass then checks ranges in ``__post_init__``.  Types are strict: a
boolean must be a TOML boolean (``"false"`` is a string), an integer an integer
(``true`` is not 1), a float a finite number (an integer is accepted), a string
a string without control characters, a path a non-empty string, a list of
strings a list of non-empty strings.  ``X | None`` means the key may be left
out.  Unknown keys and missing required keys are refused.  Every error is a
:class:`SettingError` whose ``key`` is the dotted name (``archive.fsync``) and
whose message shows the value on one line, as the file spelled it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .labels import is_clean

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_SHOW_CHARS = 60


class SettingError(ValueError):
    """A bad configuration value: ``name`` in table ``section`` (``key`` is both, dotted)."""

    def __init__(self, name: str, message: str, section: str = "") -> None:
        self.section = section
        self.name = name
        self.key = f"{section}.{name}" if section else name
        self.message = message
        super().__init__(f"{self.key}: {message}")


def show(value: Any) -> str:
    """A value as TOML would spell it, on one line and cut short."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        text = "an array " + json.dumps(value, default=str)
    elif isinstance(value, str):
        text = json.dumps(value)  # quoted, control characters escaped
    else:
        text = str(value)
    return text if len(text) <= _SHOW_CHARS else text[: _SHOW_CHARS - 3] + "..."


def show_key(key: str) -> str:
    """A key from the file, quoted when it is not a plain TOML bare key."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", key) else show(key)


def check_env_name(value: str, key: str, section: str = "") -> None:
    """``value`` must be usable as the name of an environment variable."""
    if not _ENV_NAME.match(value):
        message = f"expected an environment variable name, got {show(value)}"
        raise SettingError(key, message, section)


def _expected(key: str, what: str, value: Any) -> SettingError:
    return SettingError(key, f"expected {what}, got {show(value)}")


def check_value(value: Any, hint: Any, key: str) -> Any:
    """``value`` if it has type ``hint`` (floats and paths converted), else SettingError."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        options = [h for h in typing.get_args(hint) if h is not type(None)]
        if len(options) == 1:  # X | None: TOML has no null, None is the key left out
            return check_value(value, options[0], key)
    if hint is bool:
        if not isinstance(value, bool):
            raise _expected(key, "a boolean (true or false)", value)
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _expected(key, "an integer", value)
        return value
    if hint is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _expected(key, "a number", value)
        if not math.isfinite(value):
            raise _expected(key, "a finite number", value)
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise _expected(key, "a string", value)
        if not is_clean(value):
            raise SettingError(key, f"must not contain control characters, got {show(value)}")
        return value
    if hint is Path:
        if not isinstance(value, str) or not value.strip():
            raise _expected(key, "a non-empty path", value)
        if not is_clean(value):
            raise SettingError(key, f"must not contain control characters, got {show(value)}")
        return Path(value)
    if typing.get_origin(hint) is tuple and typing.get_args(hint)[1:] == (...,):
        item = typing.get_args(hint)[0]
        if not isinstance(value, list | tuple):
            raise _expected(key, "an array of strings" if item is str else "an array", value)
        out = tuple(check_value(v, item, key) for v in value)
        if item is str and not all(v.strip() for v in out):
            raise SettingError(key, f"must not hold an empty string, got {show(value)}")
        return out
    raise SettingError(key, f"unsupported type {hint}")  # pragma: no cover


def read_table(
    table: Mapping[str, Any],
    hints: Mapping[str, Any],
    section: str,
    required: Iterable[str] = (),
) -> dict[str, Any]:
    """The checked values of ``table``; errors name ``section`` and the key."""
    if not isinstance(table, Mapping):
        parent, _, leaf = section.rpartition(".")
        raise SettingError(leaf, f"must be a table ([{section}]), got {show(table)}", parent)
    for key in table:
        if key not in hints:
            known = ", ".join(hints)
            raise SettingError(show_key(key), f"unknown key (known: {known})", section)
    for key in required:
        if key not in table:
            raise SettingError(key, "missing (required)", section)
    try:
        return {key: check_value(value, hints[key], key) for key, value in table.items()}
    except SettingError as err:
        raise SettingError(err.name, err.message, section) from None


def field_types(cls: type, skip: Iterable[str] = ()) -> tuple[dict[str, Any], list[str]]:
    """A dataclass's field types and its required fields (those without a default)."""
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    required = []
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        out[f.name] = hints[f.name]
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    return out, required
