"""Is this listenin ready for calls?  A sans-I/O readiness verdict for ``/readyz``.

:class:`HealthBook` is fed what the outputs see (the device's
:class:`~records.device.RegistrationChanged` records) and, at each question,
the figures of now: the pipeline's :class:`~pipeline.load.Load` against its
:class:`~pipeline.load.LoadConfig`, the archive's :class:`~sinks.archive.ArchiveStats`
and whether its root is writable (the caller looks; no I/O here).  Time is
passed in.  :meth:`HealthBook.evaluate` returns a :class:`Readiness`: one
:class:`Check` per applicable condition; a check that does not apply (no
registrar configured, no pipeline, no archive) is left out, not passed.

Checks:

- ``registration``: the last REGISTER succeeded (only with a registrar).
- ``pipeline``: the ASR is within its latency budget (lag of the oldest
  waiting final, finals queued: the limits new calls are refused at).
- ``archive``: the root is writable, and no file operation failed and no audio
  was dropped for a full queue in the last ``archive_hold_s``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from pipeline.load import Load, LoadConfig, over_budget
from records.device import DeviceEvent, RegistrationChanged

from .archive import ArchiveStats


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Readiness:
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def reasons(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.ok]

    def to_json(self) -> str:
        return json.dumps(
            {
                "ready": self.ready,
                "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in self.checks},
            },
            separators=(",", ":"),
        )


class HealthBook:
    """Registration as the device reports it, archive trouble as last seen; thread-safe."""

    def __init__(self, expect_registration: bool = False, archive_hold_s: float = 60.0) -> None:
        if archive_hold_s < 0:
            raise ValueError("archive_hold_s must be >= 0")
        self.expect_registration = expect_registration
        self.archive_hold_s = archive_hold_s
        self.registration: RegistrationChanged | None = None
        self._lock = threading.Lock()
        self._archive_seen: tuple[int, int] | None = None  # errors, dropped
        self._archive_trouble_at: float | None = None
        self._archive_trouble = ""

    def on_device_event(self, event: DeviceEvent) -> None:
        if isinstance(event, RegistrationChanged):
            self.registration = event

    def evaluate(
        self,
        now_s: float,
        load: Load | None = None,
        load_config: LoadConfig | None = None,
        archive: ArchiveStats | None = None,
        archive_writable: bool = True,
    ) -> Readiness:
        checks: list[Check] = []
        if self.expect_registration:
            checks.append(self._registration())
        if load is not None:
            reason = over_budget(load_config or LoadConfig(), load.lag_ms, load.queued_finals)
            detail = f"lag {load.lag_ms:.0f} ms, {load.queued_finals} finals queued"
            checks.append(Check("pipeline", reason is None, reason or detail))
        if archive is not None:
            checks.append(self._archive(now_s, archive, archive_writable))
        return Readiness(tuple(checks))

    def _registration(self) -> Check:
        reg = self.registration
        if reg is None:
            return Check("registration", False, "not registered yet")
        detail = f"{reg.code} {reg.reason}".strip()
        return Check("registration", reg.registered, detail)

    def _archive(self, now_s: float, stats: ArchiveStats, writable: bool) -> Check:
        with self._lock:
            seen = (stats.errors, stats.dropped)
            before = self._archive_seen
            self._archive_seen = seen
            if before is not None and seen != before:
                new_errors, new_drops = seen[0] - before[0], seen[1] - before[1]
                self._archive_trouble_at = now_s
                self._archive_trouble = (
                    f"{new_errors} file errors" if new_errors > 0 else f"{new_drops} frames dropped"
                )
            elif before is None and (stats.errors or stats.dropped):
                self._archive_trouble_at = now_s  # trouble before the first question
                self._archive_trouble = f"{stats.errors} file errors, {stats.dropped} dropped"
            at = self._archive_trouble_at
            recent = at is not None and now_s - at < self.archive_hold_s
            trouble = self._archive_trouble
        if not writable:
            return Check("archive", False, "the archive root is not writable")
        if recent:
            return Check("archive", False, f"{trouble} within {self.archive_hold_s:g} s")
        return Check("archive", True, f"{stats.bytes_written} bytes written")
