"""Finish the files a killed process left unfinished, at the next start.

Every file of the archive is written as ``NAME.part`` and renamed when the
call ends, so after a crash (``kill -9``, power loss) the ``.part`` files are
exactly the unfinished ones.  :func:`repair` walks the archive root: a WAV
gets its RIFF and data sizes from its length (:func:`~sinks.wavfile.repair_wav`:
every frame up to the last flush is kept), a transcript loses a torn last
line, and each is renamed to ``NAME`` (or ``STEM-N.EXT`` if taken: nothing is
overwritten).  Scratch copies (``NAME.part.tmp``, a widening cut short; the
``.part`` beside it is intact) are deleted.  A ``.part`` WAV without a usable
header (killed before its first flush: no audio) becomes ``NAME.broken``.
Run it before recording starts, with one process per archive root.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .naming import PART, TMP, final_path, publish
from .wavfile import WavFormatError, repair_wav

log = logging.getLogger(__name__)


def repair(root: Path) -> list[Path]:
    """Repair and rename every unfinished file under ``root``; their final paths.

    Never raises for what it finds on disk: problems are logged and skipped.
    """
    root = Path(root)
    try:
        if not root.is_dir():
            return []
        for tmp in sorted(root.rglob(f"*{PART}{TMP}")):
            log.warning("deleting scratch copy %s", tmp)
            tmp.unlink()
        parts = sorted(p for p in root.rglob(f"*{PART}") if p.is_file())
    except OSError as err:
        log.error("cannot scan archive %s: [errno %s] %s", root, err.errno, err.strerror)
        return []
    out = []
    for part in parts:
        try:
            out.append(_repair_one(part))
        except OSError as err:
            log.error("cannot repair %s: [errno %s] %s", part, err.errno, err.strerror)
    return out


def _repair_one(part: Path) -> Path:
    with open(part, "rb") as f:
        riff = f.read(4) == b"RIFF"
    final = final_path(part)
    if riff or final.suffix.lower() == ".wav":
        try:
            frames = repair_wav(part)
        except WavFormatError as err:
            broken = publish(part, final.with_name(final.name + ".broken"))
            log.warning("unfinished %s has no audio (%s): kept as %s", part, err, broken)
            return broken
        done = publish(part, final)
        log.warning("repaired unfinished %s: %d frames, now %s", part, frames, done)
        return done
    kept = _trim_torn_line(part)
    done = publish(part, final)
    log.warning("repaired unfinished %s: %d bytes, now %s", part, kept, done)
    return done


def _trim_torn_line(path: Path) -> int:
    """Cut a last line left without its newline (a write cut short); bytes kept."""
    with open(path, "r+b") as f:
        data = f.read()
        keep = data.rfind(b"\n") + 1
        if keep != len(data):
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
    return keep
