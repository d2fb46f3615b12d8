"""Secrets from the environment, kept out of reprs, logs and error messages.

A config names the environment variable (``jwt_env = "RC_JWT"``); only
:func:`from_env` reads it, at the edge.  :class:`Secret` prints as ``***``, and
:func:`redact` blanks every secret read so far out of a text (error bodies,
URLs) before it reaches a log line.
"""

from __future__ import annotations

import os
import threading

_known: set[str] = set()
_lock = threading.Lock()


class MissingSecret(ValueError):
    """The environment variable a config names is not set or empty."""


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        if len(value) >= 4:
            with _lock:
                _known.add(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


def from_env(name: str, key: str, environ: dict[str, str] | None = None) -> Secret:
    """The secret in ``$name``; ``key`` is the config key that named it, for the error."""
    value = (environ if environ is not None else os.environ).get(name, "")
    if not value:
        raise MissingSecret(f"environment variable {name} (named by {key}) is not set")
    return Secret(value)


def redact(text: str) -> str:
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, "***")
    return text
