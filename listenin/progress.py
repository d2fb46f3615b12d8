"""A progress line on stderr for long offline work (``listenin transcribe``)."""

from __future__ import annotations

import sys
from typing import TextIO


def progress_bar(out: TextIO = sys.stderr):  # type: ignore[no-untyped-def]
    """A progress callback drawing ``[#####.....] 12.0/70.1 s`` on stderr."""

    def report(done: float, total: float) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:6.1f}/{total:.1f} s")
        if done >= total:
            out.write("\n")
        out.flush()

    return report
