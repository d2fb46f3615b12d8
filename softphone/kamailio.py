"""kamailio as a child process: the SIP front of :mod:`softphone.front`, started and stopped.

:class:`KamailioFront` writes the rendered config to a private folder, has
``kamailio -c`` check it, starts ``kamailio -DD -E`` (foreground, log on
stderr) in its own process group, and waits until an OPTIONS sent to the public
address is answered (by the device, through the front).  kamailio's log lines go
to Python logging (logger ``kamailio``, debug level; errors at error level) and
the last :data:`LOG_LINES` are kept for the error message when it fails
(policy ``drop_oldest_line``).  :meth:`KamailioFront.stop` ends the group; where
``setpriv`` exists kamailio also gets SIGTERM when the thread that started it
dies (start it from the main thread), so a crashed device leaves no front behind.
A cluster front (nodes as destinations) also opens kamailio's ``ctl`` socket in
that folder, so :meth:`KamailioFront.reload` can hand it a new node list.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import deque
from dataclasses import replace
from pathlib import Path

from .front import DEVICES_LIST, FrontConfig, render_config, render_destinations

log = logging.getLogger(__name__)
_kamailio_log = logging.getLogger("kamailio")
LOG_LINES = 40
DEVICES_FILE = "devices.list"  # the dispatcher list, beside kamailio.cfg
CONTROL_FILE = "ctl"  # a cluster front's ctl socket (kamcmd), beside kamailio.cfg


class FrontError(RuntimeError):
    """kamailio is missing, refused its config, did not answer or died."""


def kamailio_binary() -> str | None:
    return shutil.which("kamailio")


def kamcmd_binary() -> str | None:
    """kamailio's RPC client, for a cluster front's ``dispatcher.reload``."""
    return shutil.which("kamcmd") or shutil.which("kamcmd", path="/usr/sbin:/sbin")


def check_config(text: str, binary: str = "kamailio", devices: str | None = None) -> str | None:
    """``kamailio -c`` on ``text`` (with ``devices`` as its dispatcher list, when it reads
    one): None when it accepts it, else its complaint."""
    with tempfile.TemporaryDirectory(prefix="listenin-front-") as folder:
        return _check(Path(folder), text, binary, devices)


def _check(folder: Path, text: str, binary: str, devices: str | None) -> str | None:
    path = folder / "kamailio.cfg"
    path.write_text(text)
    if devices is not None:
        (folder / DEVICES_FILE).write_text(devices)
        text = text.replace(DEVICES_LIST, str(folder / DEVICES_FILE))
        path.write_text(text)
    done = subprocess.run(
        [binary, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30
    )
    if done.returncode == 0:
        return None
    return "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])


def options_probe(host: str, port: int, timeout_s: float) -> bool:
    """One OPTIONS to ``host:port`` over UDP; True when any response comes back."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        s.settimeout(timeout_s)
        local = s.getsockname()[1]
        h = f"[{host}]" if ":" in host else host
        tag = time.monotonic_ns()
        s.sendto(
            (f"OPTIONS sip:{h}:{port} SIP/2.0\r\n"
             f"Via: SIP/2.0/UDP {h}:{local};branch=z9hG4bKprobe{tag};rport\r\n"
             f"From: <sip:probe@{h}>;tag={tag}\r\nTo: <sip:{h}:{port}>\r\n"
             f"Call-ID: probe-{tag}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
             "Content-Length: 0\r\n\r\n").encode(),
            (host, port),
        )  # fmt: skip
        try:
            s.recvfrom(4096)
        except OSError:  # timeout, or ICMP port unreachable while kamailio starts
            return False
    return True


class KamailioFront:
    """Start with :meth:`start`, watch with :meth:`alive`, end with :meth:`stop`."""

    def __init__(self, config: FrontConfig, binary: str = "kamailio") -> None:
        self.config = config
        self.binary = binary
        self.lines: deque[str] = deque(maxlen=LOG_LINES)
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._stopping = False

    def start(self, timeout_s: float = 15.0) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="listenin-front-")
        folder = Path(self._folder.name)
        control = str(folder / CONTROL_FILE) if self.config.cluster else None
        text = render_config(self.config, str(folder / DEVICES_FILE), control)
        complaint = _check(folder, text, self.binary, render_destinations(self.config))
        if complaint is not None:
            self.stop()
            raise FrontError(f"kamailio refused the front's config:\n{complaint}")
        path = folder / "kamailio.cfg"
        cmd = [self.binary, "-f", str(path), "-DD", "-E", "-w", self._folder.name]
        setpriv = shutil.which("setpriv")
        if setpriv is not None:  # SIGTERM to kamailio if this process dies without stop()
            cmd = [setpriv, "--pdeathsig", "TERM", *cmd]
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, errors="replace", start_new_session=True,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read_log, name="kamailio-log", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                self._fail("kamailio exited while starting")
            if options_probe(self.config.public_address, self.config.udp_port, 0.3):
                what = "nodes" if self.config.cluster else "devices"
                log.info("SIP front (kamailio) on %s, %s behind it: %s",
                         self.config.public, what, " ".join(self.config.uris))  # fmt: skip
                return
        self._fail(f"the front did not answer OPTIONS on {self.config.public} in {timeout_s:g} s")

    def reload(
        self, destinations: tuple[str, ...], draining: tuple[str, ...] = (), timeout_s: float = 10
    ) -> None:
        """A cluster front's new node list, taken without a restart: the dispatcher list
        is rewritten and kamailio told to reload it (``kamcmd dispatcher.reload``); calls
        go on, on the nodes kept and the ``draining`` ones (which take no new calls).
        ConfigError for a bad list, FrontError when kamailio does not take it (also
        "Ongoing reload": kamailio takes at most one a second; try again)."""
        config = replace(self.config, destinations=destinations, draining=draining)
        kamcmd = kamcmd_binary()
        if not config.cluster or self._folder is None or kamcmd is None:
            raise FrontError("only a started cluster front with kamcmd installed reloads")
        folder = Path(self._folder.name)
        staged = folder / (DEVICES_FILE + ".new")
        staged.write_text(render_destinations(config))
        os.replace(staged, folder / DEVICES_FILE)
        control = f"unix:{folder / CONTROL_FILE}"
        try:
            done = subprocess.run([kamcmd, "-s", control, "dispatcher.reload"],
                                  capture_output=True, text=True, timeout=timeout_s)  # fmt: skip
        except subprocess.TimeoutExpired as err:
            raise FrontError(f"kamcmd dispatcher.reload took over {timeout_s:g} s") from err
        said = (done.stdout + done.stderr).strip()
        if done.returncode != 0 or said.lower().startswith("error"):  # kamcmd exits 0 on these
            raise FrontError(f"kamailio did not reload the node list: {said}")
        self.config = config
        log.info("SIP front: nodes now %s, draining %s", " ".join(destinations) or "none",
                 " ".join(draining) or "none")  # fmt: skip

    def _fail(self, what: str) -> None:
        self.stop()
        tail = "\n".join(self.lines)
        raise FrontError(f"{what}" + (f"; kamailio said:\n{tail}" if tail else ""))

    def _read_log(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stderr is not None
        for raw in proc.stderr:
            line = raw.rstrip()
            self.lines.append(line)
            alarm = not self._stopping and any(w in line for w in ("CRITICAL", "ALERT", "BUG"))
            level = logging.ERROR if alarm else logging.DEBUG
            _kamailio_log.log(level, "%s", line)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def stop(self, timeout_s: float = 5.0) -> None:
        """TERM to kamailio's process group (its workers too, even when the main process
        has died), KILL if it lingers."""
        self._stopping = True
        proc = self._proc
        if proc is not None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                try:
                    proc.wait(timeout_s)
                    break
                except subprocess.TimeoutExpired:  # kamailio ignores TERM while starting
                    continue
        if self._reader is not None:
            self._reader.join(2)
            self._reader = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port nothing holds right now (for the front's own sockets)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
