"""Terminal renderings of the event stream: live text and JSON lines.

:class:`TextRenderer` and :class:`JsonlRenderer` write events as they come;
:class:`QueuedRenderer` puts one behind a bounded queue on its own thread (the
live commands), :class:`CallClockOrder` releases finals in call-clock order
(``transcribe``).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import TextIO

from records.events import Alert, CallEnded, Dtmf, Event, TranscriptFinal, TranscriptPartial

log = logging.getLogger(__name__)


def clock(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60)
    return f"{int(m):02d}:{s:04.1f}"


class TextRenderer:
    """Finals as lines ``[mm:ss.s] party: text``; on a terminal the partial of
    each party shows on a status line that the final replaces."""

    def __init__(self, out: TextIO | None = None, live: bool | None = None) -> None:
        out = self.out = out or sys.stdout  # looked up now, not at import
        self.live = out.isatty() if live is None else live
        self.wants_partials = self.live  # a file or pipe gets finals only
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
            elif isinstance(event, Alert | Dtmf):
                line = f"[{clock(event.start)}] " + (
                    f"! alert {event.rule}: {event.matched}\n"
                    if isinstance(event, Alert)
                    else f"{event.party}: [keyed {event.digit}]\n"
                )
                self.out.write("\r\033[K" + line if self.live else line)
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

    wants_partials = True

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        line = event.to_json()  # the event's one JSON text, shared with the other sinks
        with self._lock:
            self.out.write(line + "\n")
            self.out.flush()

    def close(self) -> None:
        pass


class CallClockOrder:
    """Hands finals to ``renderer`` in call-clock order (``transcribe``'s text output).

    Offline, the parties' finals come out of the pipeline as their decodes
    finish, so a short answer can be final before the long turn that started
    earlier.  This holds each call's finals and releases them sorted by start at
    ``call.ended``; every other event passes straight through.  Memory is the
    finals of the calls still open.
    """

    def __init__(self, renderer: Callable[[Event], None]) -> None:
        self.renderer = renderer
        self._held: dict[str, list[TranscriptFinal | Alert]] = {}
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, TranscriptFinal | Alert):  # an alert follows its final
                self._held.setdefault(event.call_id, []).append(event)
                return
            if isinstance(event, CallEnded):
                self._release(self._held.pop(event.call_id, []))
        self.renderer(event)

    def close(self) -> None:
        with self._lock:
            held, self._held = self._held, {}
        for finals in held.values():
            self._release(finals)
        close = getattr(self.renderer, "close", None)
        if close is not None:
            close()

    def _release(self, held: list[TranscriptFinal | Alert]) -> None:
        finals = [e for e in held if isinstance(e, TranscriptFinal)]
        for final in sorted(finals, key=lambda f: (f.start, f.party)):
            self.renderer(final)
            for alert in held:
                if isinstance(alert, Alert) and (alert.segment_id, alert.party) == (
                    final.segment_id,
                    final.party,
                ):
                    self.renderer(alert)


class QueuedRenderer:
    """Puts a terminal renderer behind a bounded queue and its own thread.

    A terminal that blocks (a paused pipe, a slow tty) then stalls only this
    thread, never the pipeline.  When ``capacity`` events wait, a partial is
    dropped first (policy ``drop_partials_first``), else the oldest waiting
    event (``drop_oldest``); both are counted in ``dropped``.
    """

    def __init__(self, renderer: Callable[[Event], None], capacity: int = 4096) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.renderer = renderer
        self.wants_partials: bool = getattr(renderer, "wants_partials", True)
        self.capacity = capacity
        self.dropped = 0
        self._queue: deque[Event | None] = deque()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="terminal", daemon=True)
        self._thread.start()

    def __call__(self, event: Event) -> None:
        with self._cond:
            if len(self._queue) >= self.capacity:
                self.dropped += 1
                if isinstance(event, TranscriptPartial):
                    return
                victim = next(
                    (i for i, e in enumerate(self._queue) if isinstance(e, TranscriptPartial)), 0
                )
                del self._queue[victim]
                if self.dropped == 1:
                    log.warning("terminal cannot keep up: dropping output (policy drop_oldest)")
            self._queue.append(event)
            self._cond.notify()

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what waits, then stop."""
        with self._cond:
            self._queue.append(None)
            self._cond.notify()
        self._thread.join(timeout_s)
        close = getattr(self.renderer, "close", None)
        if close is not None:
            close()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue))
                event = self._queue.popleft()
            if event is None:
                return
            try:
                self.renderer(event)
            except Exception:
                log.exception("terminal output failed")
