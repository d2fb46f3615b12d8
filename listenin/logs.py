"""Logging for operators: set up once at the edge (``listenin -v --log-format json``).

The default level shows warnings, plus one INFO line per call answered, refused
and ended on the ``listenin.calls`` logger (see :mod:`listenin.calls`); ``-v``
shows INFO, ``-vv`` DEBUG.  ``--log-format json`` writes one JSON object per line
(``ts``, ``level``, ``logger``, ``message`` and a call line's fields) for log
shippers.  Every line passes :class:`Redact`: the values of the secret
environment variables (SIP password, websocket token, platform secrets) never
reach the output, whatever logged them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, TextIO

CALLS_LOGGER = "listenin.calls"
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SECRET_ENVS = ("LISTENIN_SIP_PASSWORD", "LISTENIN_WS_TOKEN")
SECRET_SUFFIXES = ("_PASSWORD", "_SECRET", "_TOKEN", "_JWT", "_API_KEY")
MIN_SECRET_CHARS = 3  # shorter values would blank ordinary words out of every line


def secret_env_names(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The environment variables whose values are secrets: listenin's own, the platform
    adapters' defaults (``*_env`` keys) and any ``*_PASSWORD``/``*_SECRET``/``*_TOKEN``."""
    from platforms.config import CONFIGS

    env = os.environ if environ is None else environ
    names = set(SECRET_ENVS)
    for cls in CONFIGS.values():
        for f in fields(cls):
            if f.name.endswith("_env") and isinstance(f.default, str):
                names.add(f.default)
    names.update(n for n in env if n.upper().endswith(SECRET_SUFFIXES))
    return tuple(sorted(names))


class Redact(logging.Filter):
    """Blanks secret values (and those :mod:`platforms.secret` has read) out of a record."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET_CHARS}, key=len,
                              reverse=True)  # fmt: skip

    def add(self, *values: str) -> None:
        self.secrets = sorted({*self.secrets, *(v for v in values if len(v) >= MIN_SECRET_CHARS)},
                              key=len, reverse=True)  # fmt: skip

    def scrub(self, text: str) -> str:
        from platforms.secret import redact

        for value in self.secrets:
            if value in text:
                text = text.replace(value, "***")
        return redact(text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        clean = self.scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        fields_ = getattr(record, "fields", None)
        if isinstance(fields_, dict):
            record.fields = {k: self.scrub(v) if isinstance(v, str) else v
                             for k, v in fields_.items()}  # fmt: skip
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message``, the record's ``fields`` (call lines), ``exc`` for a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        out: dict[str, Any] = {"ts": ts.replace("+00:00", "Z"), "level": record.levelname,
                               "logger": record.name, "message": record.getMessage()}  # fmt: skip
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            out.update({k: v for k, v in extra.items() if k not in out})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, default=str)


def setup_logging(verbose: int, fmt: str = "text", stream: TextIO | None = None) -> Redact:
    """Root at WARNING (``-v`` INFO, ``-vv`` DEBUG), the call lines always at INFO."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {LOG_FORMATS}, got {fmt!r}")
    level = logging.WARNING - 10 * min(max(verbose, 0), 2)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    redact = Redact(tuple(os.environ.get(n, "") for n in secret_env_names()))
    handler.addFilter(redact)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger(CALLS_LOGGER).setLevel(min(level, logging.INFO))
    return redact


def redact_env(*names: str) -> None:
    """Also blank the values of these environment variables (a config's ``token_env``)."""
    values = [os.environ.get(n, "") for n in names]
    for handler in logging.getLogger().handlers:
        for f in handler.filters:
            if isinstance(f, Redact):
                f.add(*values)
