"""Real third-party peers: kamailio (registrar with digest auth), sipp, baresip."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..softphone.conftest import make_device  # noqa: F401  (the device fixture, shared)

KAMAILIO_MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
PASSWORD = "s3cret-digest"

KAMAILIO_CFG = """#!KAMAILIO
debug=2
log_stderror=yes
children=1
listen=udp:{host}:{port}
mpath="{modules}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
modparam("registrar", "min_expires", 5)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (is_method("REGISTER")) {{
        if (!pv_www_authenticate("$td", "{password}", "0")) {{ www_challenge("$td", "0"); exit; }}
        if ($au != "listenin") {{ sl_send_reply("403", "Forbidden"); exit; }}
        save("location");
        exit;
    }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("INVITE")) {{ record_route(); }}
    if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
    t_relay();
}}
"""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Kamailio:
    port: int
    cfg: Path
    proc: subprocess.Popen | None = None
    host: str = "127.0.0.1"
    netns: str | None = None  # runs inside this network namespace (see :class:`Link`)

    @property
    def uri(self) -> str:
        return f"sip:{self.host}:{self.port}"

    def start(self) -> None:
        inside = ["ip", "netns", "exec", self.netns] if self.netns else []  # execs kamailio
        args = ["-f", str(self.cfg), "-DD", "-E", "-n", "1", "-w", str(self.cfg.parent)]
        self.proc = subprocess.Popen(
            [*inside, "kamailio", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

    def stop(self) -> None:
        """TERM to kamailio's process group (its forked workers too), KILL if it lingers:
        killing only the main process would leave the workers behind."""
        if self.proc is not None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, sig)
                try:
                    self.proc.wait(5)
                    break
                except subprocess.TimeoutExpired:  # kamailio ignores TERM while it starts up
                    continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # workers that outlived the main one
            self.proc = None


def _kamailio(tmp_path: Path, host: str = "127.0.0.1", netns: str | None = None) -> Kamailio:
    if shutil.which("kamailio") is None:
        pytest.skip("kamailio is not installed (apt-get install kamailio)")
    port = free_udp_port() if netns is None else 5060
    cfg = tmp_path / "kamailio.cfg"
    text = KAMAILIO_CFG.format(host=host, port=port, modules=KAMAILIO_MODULES, password=PASSWORD)
    cfg.write_text(text)
    check = subprocess.run(["kamailio", "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr[-2000:]
    return Kamailio(port, cfg, host=host, netns=netns)


@pytest.fixture
def kamailio(tmp_path: Path) -> Iterator[Kamailio]:
    k = _kamailio(tmp_path)
    k.start()
    yield k
    k.stop()


@dataclass
class Link:
    """A network path to the registrar that can be cut: kamailio runs in its own network
    namespace behind a veth pair (``host`` here, the registrar's ``peer`` there).  Cutting
    takes the registrar's end down: packets sent to it vanish without an error here, as
    on a network outage, while kamailio keeps running with its state (its bindings)."""

    name: str
    host: str  # this side's address (the device binds it)
    peer: str  # the registrar's address

    def _ip(self, *args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    def up(self) -> None:
        self._ip("netns", "add", self.name)
        self._ip("link", "add", f"{self.name}h", "type", "veth", "peer", "name", f"{self.name}k")
        self._ip("link", "set", f"{self.name}k", "netns", self.name)
        self._ip("addr", "add", f"{self.host}/30", "dev", f"{self.name}h")
        self._ip("link", "set", f"{self.name}h", "up")
        self._ip("-n", self.name, "addr", "add", f"{self.peer}/30", "dev", f"{self.name}k")
        self._ip("-n", self.name, "link", "set", "lo", "up")
        self.mend()

    def cut(self) -> None:
        self._ip("-n", self.name, "link", "set", f"{self.name}k", "down")

    def mend(self) -> None:
        self._ip("-n", self.name, "link", "set", f"{self.name}k", "up")

    def down(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._ip("netns", "del", self.name)  # takes the veth pair with it
        with contextlib.suppress(subprocess.CalledProcessError):
            self._ip("link", "del", f"{self.name}h")


def _netns_works() -> bool:
    probe = f"lnp{os.getpid() % 100000}"
    ok = subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode == 0
    if ok:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return ok


@pytest.fixture
def registrar_link(tmp_path: Path) -> Iterator[tuple[Kamailio, Link]]:
    """kamailio behind a :class:`Link` (needs root and ``ip netns``)."""
    if shutil.which("ip") is None or not _netns_works():
        pytest.skip("needs root and `ip netns` to cut the path to the registrar")
    n = os.getpid() % 16000
    net = f"10.{200 + n // 4000}.{(n // 16) % 250}.{(n % 16) * 4}".split(".")
    base = ".".join(net[:3])
    last = int(net[3])
    link = Link(f"lnr{n}", f"{base}.{last + 1}", f"{base}.{last + 2}")
    link.down()  # a leftover of an earlier run with the same pid
    link.up()
    k = _kamailio(tmp_path, link.peer, link.name)
    k.start()
    try:
        yield k, link
    finally:
        k.stop()
        link.down()
