"""Place the supervise calls a fake platform owes the device, with pbxsim's own UAC.

Each placement runs :class:`~pbxsim.uac.RawCaller` in a thread: whole-call
supervision is one INVITE with one stream, the parties mixed into a single
channel (written once to a temporary WAV); per-party supervision is one INVITE
per party.  The INVITE's headers are the platform's (RingCentral's
``p-rc-api-monitoring-ids``) or none.  ``on_done`` is told the leg results when
the call hangs up (the fake then ends the platform call).
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import soundfile as sf

from pbxsim.plan import SimLeg, SimParty, SimSession, load_session
from pbxsim.uac import RawCaller
from records.frames import mix_int16

log = logging.getLogger(__name__)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


class CallPlacer:
    def __init__(
        self,
        fixture: str | Path = "call2",
        start_s: float = 0.0,
        seconds: float | None = 10.0,
        dial: bool = True,  # False: only record what would be placed (unit tests)
    ) -> None:
        path = Path(fixture)
        self.fixture = path if path.suffix else FIXTURES / f"{fixture}.json"
        self.start_s, self.seconds, self.dial = start_s, seconds, dial
        self.placed: list[tuple[str, tuple[SimLeg, ...]]] = []
        self.results: list[dict] = []
        self.threads: list[threading.Thread] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="pbxsim-mix-")
        self._mixed: Path | None = None
        self._lock = threading.Lock()

    def session(self, session_id: str) -> SimSession:
        """The fixture's parties, ids ``<session>-1`` (agent), ``<session>-2`` (customer)."""
        return load_session(self.fixture, session_id)

    def mixed_party(self, session_id: str) -> SimParty:
        """All parties on one channel: what a whole-call (session) supervisor hears."""
        with self._lock:
            if self._mixed is None:
                tracks = [sf.read(p.wav, dtype="int16")[0] for p in self.session("x").parties]
                self._mixed = Path(self._tmp.name) / "mixed.wav"
                sf.write(self._mixed, mix_int16(tracks), 8000)
        return SimParty(f"{session_id}-mix", "mixed", self._mixed)

    def place(
        self,
        target: str,
        legs: tuple[SimLeg, ...],
        on_done: Callable[[list[dict]], None] | None = None,
    ) -> threading.Thread | None:
        with self._lock:
            self.placed.append((target, legs))
        if not self.dial:
            return None

        def run() -> None:
            try:
                results = RawCaller(target).run(legs, self.start_s, self.seconds)
            except Exception:
                log.exception("placing a supervise call to %s failed", target)
                results = []
            with self._lock:
                self.results.extend(results)
            if on_done is not None:
                on_done(results)

        t = threading.Thread(target=run, name="pbxsim-place", daemon=True)
        with self._lock:
            self.threads.append(t)
        t.start()
        return t

    def join(self, timeout_s: float = 60.0) -> None:
        for t in list(self.threads):
            t.join(timeout_s)

    def close(self) -> None:
        self.join(1.0)
        self._tmp.cleanup()
