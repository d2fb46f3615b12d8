"""CPU and memory of a host's processes, from /proc: the host itself, its device processes
(multiprocessing children) and its kamailio front.  Stdlib only (the device processes are
spawned, and spawn imports the bench's main module in each)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

TICK, PAGE = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> tuple[int, float, int] | None:
    """(parent pid, CPU seconds, RSS bytes), None when it is gone."""
    try:
        rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(rest[1]), (int(rest[11]) + int(rest[12])) / TICK, int(rest[21]) * PAGE


def _kind(pid: int) -> str | None:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if b"spawn_main" in b" ".join(argv):  # a device process, not multiprocessing's tracker
        return "device"
    return "front" if b"kamailio" in argv[0] else None


def processes() -> dict[int, tuple[str, float, int]]:
    """pid -> (kind, CPU s, RSS bytes) for this process ("host") and its descendants that
    are device processes or the front (kamailio and its forks); not the simulator."""
    stats = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (s := _stat(int(entry.name))) is not None:
            stats[int(entry.name)] = s
    me = os.getpid()
    out, todo = {}, [me]
    while todo:
        pid = todo.pop()
        kind = "host" if pid == me else _kind(pid)
        if kind is not None and pid in stats:
            out[pid] = (kind, stats[pid][1], stats[pid][2])
        todo += [p for p, s in stats.items() if s[0] == pid]
    return out


def cpu_by_kind(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds each kind used between two :func:`processes` snapshots (a process
    started in between counts from zero)."""
    used: dict[str, float] = {"host": 0.0, "device": 0.0, "front": 0.0}
    for pid, (kind, cpu, _) in after.items():
        used[kind] += cpu - (before[pid][1] if pid in before else 0.0)
    return used


def rss_mb(snapshot: dict) -> float:
    """RSS of the host and its device processes (the front apart)."""
    return sum(rss for kind, _, rss in snapshot.values() if kind != "front") / 2**20


class RssPeak:
    """The peak :func:`rss_mb` of the processes in ``snapshot``, read each second on a
    thread until :meth:`stop` (only their /proc/PID/stat: the host's CPU stays the host's)."""

    def __init__(self, snapshot: dict) -> None:
        self.pids = {pid: kind for pid, (kind, _, _) in snapshot.items() if kind != "front"}
        self.peak = rss_mb(snapshot)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss", daemon=True)
        self._thread.start()

    def _read(self) -> float:
        return sum(s[2] for pid in self.pids if (s := _stat(pid)) is not None) / 2**20

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.peak = max(self.peak, self._read())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return round(max(self.peak, self._read()), 1)
