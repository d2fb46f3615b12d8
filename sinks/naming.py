"""File names of the archive: path templates, their validation, and never overwriting.

A call's files are named by ``str.format``-style templates relative to the
archive root, e.g. folder ``{date}/{call_id}`` and file ``{party}.wav``.
Templates are checked once, when the config is built: only the known
placeholders, no format specs, no absolute paths and no ``..``.  Values come
from the network (SIP headers name the call and the party), so they are made
path-safe before they are substituted.  A file is written as ``NAME.part``
and renamed to ``NAME`` when complete; nothing is ever overwritten: when
``NAME`` (or ``NAME.part``) exists the next free ``STEM-1.EXT``, ``STEM-2.EXT``...
is used, and the final rename is a hard link, which fails rather than replaces.
"""

from __future__ import annotations

import errno
import os
import re
import string
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

PART = ".part"  # suffix of a file still being written (repaired at the next start)
TMP = ".tmp"  # suffix of a scratch copy (a stereo file being widened); deleted on repair
CALL_FIELDS = frozenset({"call_id", "date", "time", "year", "month", "day"})
PARTY_FIELDS = CALL_FIELDS | {"party"}
MAX_VALUE_CHARS = 80
MAX_SUFFIX = 9999

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=-]")


class TemplateError(ValueError):
    """A path template that cannot be used (unknown placeholder, path escape...)."""


def check_template(
    template: str, allowed: frozenset[str], required: frozenset[str] = frozenset(), what: str = ""
) -> None:
    """Raise :class:`TemplateError` unless ``template`` is a safe relative path template."""
    label = f"{what} template {template!r}" if what else f"template {template!r}"
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as err:
        raise TemplateError(f"{label}: {err}") from err
    used = set()
    for _literal, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in allowed:
            raise TemplateError(
                f"{label}: unknown placeholder {{{name}}} (allowed: {', '.join(sorted(allowed))})"
            )
        if spec or conversion:
            raise TemplateError(f"{label}: placeholder {{{name}}} takes no format spec")
        used.add(name)
    missing = required - used
    if missing:
        raise TemplateError(f"{label}: must contain {{{'}, {'.join(sorted(missing))}}}")
    sample = template.format(**{name: "x" for name in allowed})
    check_relative(sample, label)


def check_relative(path: str, label: str) -> None:
    if not path:
        raise TemplateError(f"{label}: empty path")
    if "\\" in path or "\0" in path:
        raise TemplateError(f"{label}: backslash or NUL in path")
    pure = PurePosixPath(path)
    if pure.is_absolute():
        raise TemplateError(f"{label}: absolute path (must be relative to the archive root)")
    if any(part == ".." for part in pure.parts):
        raise TemplateError(f"{label}: '..' escapes the archive root")


def check_file_name(template: str, label: str) -> None:
    if template.endswith("/") or template.endswith(PART) or template.endswith(TMP):
        raise TemplateError(f"{label} template {template!r}: must name a file, not *{PART}/{TMP}")


def safe_value(value: str) -> str:
    """A network-supplied name made safe as one path component."""
    text = _UNSAFE.sub("_", value)[:MAX_VALUE_CHARS]
    if not text or text.startswith("."):
        text = "_" + text
    return text


def call_values(call_id: str, started_unix_s: float) -> dict[str, str]:
    """Placeholder values of a call; dates are UTC, of the call's first record."""
    t = datetime.fromtimestamp(started_unix_s, tz=UTC)
    return {
        "call_id": safe_value(call_id),
        "date": t.strftime("%Y-%m-%d"),
        "time": t.strftime("%H%M%S"),
        "year": t.strftime("%Y"),
        "month": t.strftime("%m"),
        "day": t.strftime("%d"),
    }


def render(root: Path, template: str, values: dict[str, str]) -> Path:
    """The path a template names under ``root`` (checked to stay under it)."""
    rel = template.format(**values)
    check_relative(rel, f"rendered path {rel!r}")
    return root / rel


def part_path(path: Path) -> Path:
    return path.with_name(path.name + PART)


def final_path(part: Path) -> Path:
    return part.with_name(part.name[: -len(PART)])


def _candidate(path: Path, n: int) -> Path:
    return path if n == 0 else path.with_name(f"{path.stem}-{n}{path.suffix}")


def unique_path(path: Path) -> Path:
    """``path`` or the first ``STEM-N.EXT`` such that neither it nor its ``.part`` exists."""
    for n in range(MAX_SUFFIX + 1):
        candidate = _candidate(path, n)
        if not candidate.exists() and not part_path(candidate).exists():
            return candidate
    raise FileExistsError(errno.EEXIST, "no free name", str(path))


def publish(part: Path, final: Path) -> Path:
    """Rename ``part`` to ``final`` (or the next free suffix) without ever replacing a file."""
    for n in range(MAX_SUFFIX + 1):
        candidate = _candidate(final, n)
        try:
            os.link(part, candidate)
        except FileExistsError:
            continue
        except OSError:  # no hard links here (some network or FAT file systems)
            if candidate.exists():
                continue
            os.rename(part, candidate)
            return candidate
        os.unlink(part)
        return candidate
    raise FileExistsError(errno.EEXIST, "no free name", str(final))
