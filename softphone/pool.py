"""Many device processes behind one SIP front, read like one :class:`~softphone.device.Device`.

pjsua2 takes 4 calls per process (``PJSUA_MAX_CALLS`` is compiled into the
wheel), so a host that takes N calls runs ceil(N / 4) device processes
(:mod:`softphone.worker`), each on its own loopback SIP port that the kamailio
front dispatches to.  The pool is their one consumer: a thread per process
reads its batches and puts them on one outbox, which :meth:`DevicePool.get`
reads, so the host's one pipeline sees every call.

What the pool adds on the way:

- **One call clock per session.**  Per-party INVITEs of one call may reach two
  processes; each reports its session clock's origin (:class:`ClockOrigin`) and
  the pool moves the later process's frames by the difference, in whole frames.
- **A process that dies ends only its own calls**: every leg it held gets a
  ``LegEnded(lost=True)`` that says why, and the process is started again on the
  same port (after 0.5 s, doubling up to 8 s while it keeps dying young).  The
  front's OPTIONS probes stop INVITEs to it while it is down.
- **The host's load and party roles reach every process**: ``busy`` is read here
  every :data:`BUSY_EVERY_S` and sent on change; roles as they are set.

Frames are bounded as in a device (``frame_queue``; ``drop_newest_frame``).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from typing import Any

from records.device import (
    ClockOrigin,
    DeviceEvent,
    DigitSignalled,
    LegAnswered,
    LegEnded,
    LegRejected,
)
from records.frames import AudioFrame

from .addresses import uri_hostport
from .admission import PartyRoles
from .config import WHEEL_MAX_CALLS, DeviceConfig
from .device import DeviceError, DeviceStats
from .kamailio import free_udp_port
from .outbox import Outbox
from .worker import serve

log = logging.getLogger(__name__)

BUSY_EVERY_S = 0.1
FRAME_MS = 20  # the session clock's unit (softphone.clock)
RESTART_S = (0.5, 8.0)  # first and longest wait before a dead process is started again
YOUNG_S = 10.0  # a process that dies younger than this waits twice as long next time


def split_calls(calls: int, per_process: int = WHEEL_MAX_CALLS) -> list[int]:
    """Calls per device process for ``calls`` in all: ``[4, 4, 2]`` for 10."""
    if calls < 1:
        raise ValueError("a pool takes at least one call")
    full, rest = divmod(calls, per_process)
    return [per_process] * full + ([rest] if rest else [])


def process_configs(config: DeviceConfig, calls: int) -> list[DeviceConfig]:
    """One config per device process: its own loopback port and share of the calls.  Only
    the first registers (one registration per host); the others trust the registrar and
    proxy by address, as the first does."""
    a, adm = config.account, config.admission
    trusted = adm.trusted
    if adm.trust_registrar:
        trusted += tuple(uri_hostport(u) for u in (a.registrar, a.proxy) if u)
    out = []
    for n, share in enumerate(split_calls(calls)):
        t = replace(config.transport, udp_port=free_udp_port(config.transport.bind_address))
        account = a if n == 0 else replace(a, registrar=None)
        admission = replace(adm, max_calls=share)
        if n:
            admission = replace(admission, trusted=trusted, trust_registrar=False)
        out.append(replace(config, transport=t, account=account, admission=admission))
    return out


@dataclass(slots=True)
class _Slot:
    """One device process and what the pool knows of it (owned by its reader thread)."""

    index: int
    config: DeviceConfig
    proc: Any = None  # multiprocessing.Process
    conn: Connection | None = None
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    legs: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # leg: session
    offsets: dict[str, int] = field(default_factory=dict)  # session: frames to move by
    dropped: int = 0  # frames the process dropped (its own report)
    dropped_before: int = 0  # ... and what its earlier runs dropped, before restarts
    started_at: float = 0.0
    restarts: int = 0
    address: str | None = None


class DevicePool:
    """Start with :meth:`start`, read with :meth:`get`, end with :meth:`stop`."""

    def __init__(self, configs: list[DeviceConfig], roles: PartyRoles | None = None,
                 frame_queue: int | None = None) -> None:  # fmt: skip
        if not configs:
            raise ValueError("a pool needs at least one device process")
        self.roles = roles or PartyRoles()
        self.roles.on_set = self._send_role
        self.stats = DeviceStats()
        self.busy: Callable[[], str | None] | None = None
        self._slots = [_Slot(n, c) for n, c in enumerate(configs)]
        self._outbox = Outbox(frame_queue or configs[0].frame_queue)
        self._lock = threading.Lock()  # the origins and session counts below
        self._origins: dict[str, int] = {}  # session: the first origin_ns reported
        self._sessions: Counter[str] = Counter()  # session: legs open in all processes
        self._ctx = multiprocessing.get_context("spawn")
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._busy_sent: str | None = None

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(int(s.config.transport.udp_port or 0) for s in self._slots)

    @property
    def address(self) -> str | None:
        return self._slots[0].address

    @property
    def capacity(self) -> int:
        return sum(s.config.admission.max_calls for s in self._slots)

    @property
    def open_legs(self) -> int:
        return sum(len(s.legs) for s in self._slots)

    @property
    def running(self) -> bool:
        return bool(self._threads) and not self._stop.is_set()

    def start(self, timeout_s: float = 30.0) -> None:
        """Start every process; all must say ready, else all stop and DeviceError."""
        try:
            for slot in self._slots:
                self._spawn(slot)
            for slot in self._slots:
                self._handshake(slot, timeout_s)
        except DeviceError:
            self._stop.set()
            for slot in self._slots:
                self._kill(slot)
            raise
        for slot in self._slots:
            t = threading.Thread(target=self._read, args=(slot,), name=f"device{slot.index}-reader",
                                 daemon=True)  # fmt: skip
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._watch_busy, name="pool-busy", daemon=True)
        t.start()
        self._threads.append(t)
        log.info("device pool: %d processes on 127.0.0.1 ports %s, %d calls", len(self._slots),
                 ",".join(map(str, self.ports)), self.capacity)  # fmt: skip

    def stop(self, timeout_s: float = 10.0) -> None:
        """Each process hangs up, flushes its calls' ends here, exits."""
        if self._stop.is_set():
            return
        self._stop.set()
        for slot in self._slots:
            self._send(slot, ("stop",))
        for t in self._threads:
            t.join(timeout_s)
        for slot in self._slots:
            self._kill(slot, timeout_s)
        self._threads.clear()

    def get(self, timeout_s: float | None = None) -> AudioFrame | DeviceEvent | None:
        return self._outbox.get(timeout_s)

    # -- processes -------------------------------------------------------------
    def _spawn(self, slot: _Slot) -> None:
        parent, child = self._ctx.Pipe()
        level = logging.getLogger().getEffectiveLevel()
        slot.proc = self._ctx.Process(
            target=serve, args=(slot.index, slot.config, self.roles.items(), child, level),
            name=f"listenin-device{slot.index}", daemon=True,
        )  # fmt: skip
        slot.proc.start()
        child.close()
        slot.conn = parent
        slot.started_at = time.monotonic()

    def _handshake(self, slot: _Slot, timeout_s: float) -> None:
        conn = slot.conn
        assert conn is not None
        try:
            if not conn.poll(timeout_s):
                raise DeviceError(f"device process {slot.index} did not start in {timeout_s:g} s")
            kind, value = conn.recv()
        except (EOFError, OSError) as err:
            raise DeviceError(f"device process {slot.index} died while starting") from err
        if kind != "ready":
            raise DeviceError(f"device process {slot.index}: {value}")
        slot.address = value

    def _kill(self, slot: _Slot, timeout_s: float = 2.0) -> None:
        proc = slot.proc
        if proc is None:
            return
        proc.join(timeout_s)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout_s)
        if slot.conn is not None:
            slot.conn.close()

    def _send(self, slot: _Slot, msg: tuple[Any, ...]) -> None:
        with slot.send_lock:
            try:
                if slot.conn is not None:
                    slot.conn.send(msg)
            except (OSError, ValueError):  # a dead process: its reader restarts it
                pass

    def _send_role(self, session: str, party: str, role: str) -> None:
        for slot in self._slots:
            self._send(slot, ("role", session, party, role))

    def _watch_busy(self) -> None:
        while not self._stop.wait(BUSY_EVERY_S):
            reason = self.busy() if self.busy is not None else None
            if reason != self._busy_sent:
                self._busy_sent = reason
                for slot in self._slots:
                    self._send(slot, ("busy", reason))

    # -- one reader thread per process -----------------------------------------
    def _read(self, slot: _Slot) -> None:
        wait_s = RESTART_S[0]
        while True:
            try:
                self._drain(slot)
            except Exception:
                log.exception("device process %d: reading failed", slot.index)
            if self._stop.is_set():
                return
            self._lost(slot)
            young = time.monotonic() - slot.started_at < YOUNG_S
            wait_s = min(wait_s * 2, RESTART_S[1]) if young and slot.restarts else RESTART_S[0]
            while not self._stop.wait(wait_s):
                slot.restarts += 1
                try:
                    self._spawn(slot)
                    self._handshake(slot, 30.0)
                    self._send(slot, ("busy", self._busy_sent))
                    log.warning("device process %d started again (pid %d, restart %d)",
                                slot.index, slot.proc.pid, slot.restarts)  # fmt: skip
                    break
                except DeviceError as err:
                    log.error("device process %d: %s; trying again in %g s", slot.index, err,
                              wait_s)  # fmt: skip
                    self._kill(slot)
            else:
                return

    def _drain(self, slot: _Slot) -> None:
        conn = slot.conn
        assert conn is not None
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                return
            if isinstance(msg, tuple):
                if msg[0] == "dropped":
                    slot.dropped = msg[1]
                    self._count_drops()
                continue
            for item in msg:
                self._take(slot, item)

    def _take(self, slot: _Slot, item: AudioFrame | DeviceEvent | ClockOrigin) -> None:
        if isinstance(item, AudioFrame):
            moved = slot.offsets.get(item.call_id, 0)
            if moved:
                item = replace(item, start=item.start + moved * item.sample_rate * FRAME_MS // 1000)
            if not self._outbox.offer(item):
                self._count_drops()
            return
        elif isinstance(item, ClockOrigin):
            with self._lock:
                first = self._origins.setdefault(item.session_id, item.origin_ns)
            moved = round((item.origin_ns - first) / (FRAME_MS * 1_000_000))
            slot.offsets[item.session_id] = max(0, moved)
            return
        elif isinstance(item, LegAnswered):  # leg keys are per process: made per pool
            item = replace(item, leg=f"{slot.index}.{slot.restarts}/{item.leg}")
            slot.legs[item.leg] = (item.session_id, tuple(s.label for s in item.streams))
            with self._lock:
                self._sessions[item.session_id] += 1
            self.stats.answered += 1
            self.stats.answer_ms.append(item.answer_ms)
        elif isinstance(item, LegEnded):
            item = replace(item, leg=f"{slot.index}.{slot.restarts}/{item.leg}")
            self._leg_gone(slot, item.leg)
        elif isinstance(item, LegRejected):
            self.stats.rejected += 1
        elif isinstance(item, DigitSignalled):  # on the pool's call clock, as frames are
            moved = slot.offsets.get(item.session_id, 0) * item.sample_rate * FRAME_MS // 1000
            item = replace(item, start=item.start + moved, end=item.end + moved)
        self._outbox.put(item)

    def _count_drops(self) -> None:
        """The pool's own drops and each process's last report (restarts keep theirs)."""
        self.stats.dropped_frames = self._outbox.dropped + sum(s.dropped + s.dropped_before
                                                        for s in self._slots)  # fmt: skip

    def _leg_gone(self, slot: _Slot, leg: str) -> None:
        known = slot.legs.pop(leg, None)
        if known is None:
            return
        session = known[0]
        if all(s != session for s, _ in slot.legs.values()):
            slot.offsets.pop(session, None)
        with self._lock:
            self._sessions[session] -= 1
            if self._sessions[session] <= 0:
                del self._sessions[session]
                self._origins.pop(session, None)

    def _lost(self, slot: _Slot) -> None:
        """The process died: each of its legs ends, saying so."""
        proc = slot.proc
        proc.join(2.0)
        code = proc.exitcode
        why = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        reason = f"device process {slot.index} died ({why})"
        log.error("%s with %d call legs; starting it again", reason, len(slot.legs))
        for leg, (session, labels) in list(slot.legs.items()):
            self._leg_gone(slot, leg)
            self._outbox.put(LegEnded(leg, session, labels, reason, lost=True))
        slot.offsets.clear()
        slot.dropped_before += slot.dropped
        slot.dropped = 0
        if slot.conn is not None:
            slot.conn.close()
            slot.conn = None
