"""``listenin run`` as a child process, for the tests that need the real command.

:class:`RunningDevice` starts it (the model loads first, then the device and,
unless ``--front none``, its kamailio front), collects its JSONL events on a
thread and keeps its stderr in a file; :func:`wait_until_answering` sends
OPTIONS until something answers on the SIP port; :func:`answered_by` tells a
reply of the front from one of the device; :func:`place_call` has the
simulator place a two-party call and returns its transcript.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from pbxsim.hostile import RawInvite

from ..waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RunningDevice:
    """``listenin run`` in a child process, its JSONL events collected on a thread."""

    def __init__(self, port: int, tmp: Path, *args: str) -> None:
        cmd = [sys.executable, "-m", "listenin", "run", "--sip-port", str(port), "--rtp-port",
               "0", "--no-server", "--format", "jsonl", *args]  # fmt: skip
        self.stderr = (tmp / "stderr.log").open("w+")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=self.stderr,
                                     text=True, env=env)  # fmt: skip
        self.events: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.events.append(json.loads(line))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self, tail: int = 3000) -> str:
        """The last ``tail`` characters of its stderr (-1: all of it)."""
        self.stderr.seek(0)
        text = self.stderr.read()
        return text if tail < 0 else text[-tail:]

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.stderr.close()


def wait_until_answering(dest: tuple[str, int], dev: RunningDevice, timeout_s: float = 60) -> None:
    """OPTIONS until the device answers (the model loads before the device starts)."""
    deadline = time.monotonic() + timeout_s
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.5)
        local = s.getsockname()[1]
        while time.monotonic() < deadline and dev.alive():
            s.sendto(
                (f"OPTIONS sip:listenin@{dest[0]}:{dest[1]} SIP/2.0\r\n"
                 f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bKopt{time.monotonic_ns()}\r\n"
                 f"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:listenin@{dest[0]}>\r\n"
                 f"Call-ID: opt-{time.monotonic_ns()}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                 "Content-Length: 0\r\n\r\n").encode(),
                dest,
            )  # fmt: skip
            try:
                s.recvfrom(4096)
                return
            except TimeoutError:
                continue
    raise AssertionError(f"device never answered OPTIONS:\n{dev.log()}")


def answered_by(invite: RawInvite) -> str:
    """ "front" for kamailio's own reply (its Server header), else "device"."""
    assert invite.final_msg is not None
    server = invite.final_msg.get("server") or ""
    return "front" if server.startswith("kamailio") else "device"


def place_call(port: int, dev: RunningDevice, seconds: float = 12) -> str:
    """A two-stream call2 call through ``port``: its transcript once the call has ended."""
    sim = subprocess.run(
        [sys.executable, "-m", "pbxsim", f"sip:listenin@127.0.0.1:{port}", "--fixture",
         "call2", "--form", "two-streams", "--seconds", str(seconds), "--session-prefix",
         "real"],
        cwd=ROOT, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert sim.returncode == 0, sim.stderr[-2000:] + dev.log()
    wait_for(
        lambda: (
            not dev.alive()
            or any(e["type"] == "call.ended" and e.get("call_id") == "real-1" for e in dev.events)
        ),
        60,
    )
    ours = [e for e in dev.events if e.get("call_id") == "real-1"]
    assert ours and ours[-1]["type"] == "call.ended", dev.log()
    return " ".join(e["text"] for e in ours if e["type"] == "transcript.final").lower()
