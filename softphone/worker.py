"""One device process of a :class:`~softphone.pool.DevicePool`: a thin pjsua2 device
that sends its records to the host's pipeline over a pipe.

It runs :class:`~softphone.device.Device` (SIP, RTP, jitter buffer, taps) and
nothing else: no model, no pipeline.  Its outbox goes to the parent in batches
(``list`` of records: :class:`~records.frames.AudioFrame`, the
:mod:`records.device` records and :class:`~records.device.ClockOrigin`); the
parent sends back small commands:

- ``("busy", reason | None)``: the host's load gate (new INVITEs get 503 while set);
- ``("role", session_id, party_id, role)``: a party role a platform adapter learnt;
- ``("stop",)``: hang up, flush, exit.

The first message is ``("ready", address)`` or ``("failed", why)``.  The
process ends when the parent's end of the pipe closes (the parent died), so no
device outlives its host.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from multiprocessing.connection import Connection
from typing import Any

from records.device import DeviceEvent
from records.frames import AudioFrame

from .admission import PartyRoles
from .config import DeviceConfig
from .device import Device, DeviceError

log = logging.getLogger(__name__)

BATCH = 128  # records per message at most
WAIT_S = 0.01  # how long one turn waits for the device's next record
STATS_EVERY_S = 1.0  # how often the frames the device dropped are reported


def serve(index: int, config: DeviceConfig, roles: dict[tuple[str, str], str],
          conn: Connection, log_level: int) -> None:  # fmt: skip
    """The process's main function (``multiprocessing`` spawn target)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    logging.basicConfig(
        level=log_level, format=f"%(asctime)s device{index}[{os.getpid()}] %(levelname)s "
        "%(name)s: %(message)s",
    )  # fmt: skip
    party_roles = PartyRoles()
    for (session, party), role in roles.items():
        party_roles.set(session, party, role)
    device = Device(config, party_roles)
    device.report_origins = True
    busy: list[str | None] = [None]
    device.busy = lambda: busy[0]
    try:
        device.start()
    except DeviceError as err:
        conn.send(("failed", str(err)))
        return
    conn.send(("ready", device.address))
    try:
        _pump(device, conn, busy, party_roles)
    except (EOFError, OSError):
        log.warning("the host is gone; device process %d stops", index)
    finally:
        device.stop()
    try:
        _flush(device, conn)
        conn.close()
    except (EOFError, OSError):
        pass


def _pump(device: Device, conn: Connection, busy: list[str | None], roles: PartyRoles) -> None:
    dropped = 0
    next_stats = time.monotonic() + STATS_EVERY_S
    while True:
        while conn.poll():
            msg: tuple[Any, ...] = conn.recv()
            if msg[0] == "stop":
                return
            if msg[0] == "busy":
                busy[0] = msg[1]
            elif msg[0] == "role":
                roles.set(msg[1], msg[2], msg[3])
        batch = _batch(device, WAIT_S)
        if batch:
            conn.send(batch)
        if time.monotonic() >= next_stats:
            next_stats += STATS_EVERY_S
            if device.stats.dropped_frames != dropped:
                dropped = device.stats.dropped_frames
                conn.send(("dropped", dropped))


def _batch(device: Device, wait_s: float) -> list[AudioFrame | DeviceEvent]:
    batch = []
    item = device.get(timeout_s=wait_s)
    while item is not None:
        batch.append(item)
        if len(batch) >= BATCH:
            break
        item = device.get(timeout_s=0)
    return batch


def _flush(device: Device, conn: Connection) -> None:
    """What the device published while it stopped (the calls' ends) goes out too."""
    while batch := _batch(device, 0):
        conn.send(batch)
    conn.send(("dropped", device.stats.dropped_frames))
