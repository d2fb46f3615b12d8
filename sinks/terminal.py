"""Terminal renderings of the event stream: live text and JSON lines."""

from __future__ import annotations

import json
import sys
import threading
from typing import TextIO

from records.events import Event, TranscriptFinal, TranscriptPartial


def clock(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60)
    return f"{int(m):02d}:{s:04.1f}"


class TextRenderer:
    """Finals as lines ``[mm:ss.s] party: text``; on a terminal the partial of
    each party shows on a status line that the final replaces."""

    def __init__(self, out: TextIO | None = None, live: bool | None = None) -> None:
        out = self.out = out or sys.stdout  # looked up now, not at import
        self.live = out.isatty() if live is None else live
        self._lock = threading.Lock()
        self._partials: dict[str, str] = {}

    def __call__(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, TranscriptPartial):
                if self.live:
                    self._partials[event.party] = event.text
                    self._status()
                return
            if isinstance(event, TranscriptFinal):
                self._partials.pop(event.party, None)
                if self.live:
                    self.out.write("\r\033[K")
                if event.text:
                    label = event.party if event.speaker is None else event.speaker
                    self.out.write(f"[{clock(event.start)}] {label}: {event.text}\n")
                if self.live:
                    self._status()
                self.out.flush()

    def _status(self) -> None:
        line = "  ".join(f"{p}> {t}" for p, t in self._partials.items())
        self.out.write("\r\033[K\033[2m" + line[-150:] + "\033[0m")
        self.out.flush()

    def close(self) -> None:
        if self.live:
            self.out.write("\r\033[K")
            self.out.flush()


class JsonlRenderer:
    """One JSON object per event per line, flushed as it happens."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        line = json.dumps(event.to_dict(), ensure_ascii=False)
        with self._lock:
            self.out.write(line + "\n")
            self.out.flush()

    def close(self) -> None:
        pass
