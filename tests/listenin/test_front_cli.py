"""``listenin front``: its nodes file, its refusals, and two (then three) real ``listenin run``
nodes behind it on loopback: calls spread over both nodes, the legs of one supervised call
meet on one node, a node stopped mid-call ends only its own calls and new calls go to the
other, and a node written into the nodes file is taken without restarting the front.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from listenin.front_cli import MAX_DRAINING, NodesFile, draining, parse_nodes
from listenin.options import CliError

from ..softphone.running import ROOT, RunningDevice, free_udp_port, wait_until_answering
from ..waiting import wait_for, wait_until

needs_kamailio = pytest.mark.skipif(
    shutil.which("kamailio") is None or shutil.which("kamcmd") is None,
    reason="kamailio (with kamcmd) is not installed (apt-get install kamailio)",
)


def test_a_nodes_file_is_one_address_per_line():
    text = "# the nodes\n10.0.0.5:5070\n\n  10.0.0.6:5070  # rack 2\n10.0.0.5:5070\n[::1]:5070\n"
    assert parse_nodes(text) == ("10.0.0.5:5070", "10.0.0.6:5070", "[::1]:5070")
    with pytest.raises(ValueError, match="line 2: 'node1:5070' must be IP:PORT"):
        parse_nodes("10.0.0.5:5070\nnode1:5070\n")


def test_nodes_taken_off_the_list_are_drained_until_they_are_back():
    a, b, c = "10.0.0.1:5070", "10.0.0.2:5070", "10.0.0.3:5070"
    assert draining((a, b), (a,), ()) == (b,)
    assert draining((a,), (a, c), (b,)) == (b,)
    assert draining((a, c), (a,), (b,)) == (b, c)
    assert draining((a,), (a, b), (b, c)) == (c,)  # b is back
    many = tuple(f"10.0.1.{n}:5070" for n in range(MAX_DRAINING + 5))
    assert draining(many, (), ()) == many[-MAX_DRAINING:]  # the most recent ones


def test_the_nodes_file_is_read_again_only_when_it_changed(tmp_path, caplog):
    path = tmp_path / "nodes"
    path.write_text("10.0.0.5:5070\n")
    watch = NodesFile(str(path))
    assert watch.read() == ("10.0.0.5:5070",)
    assert watch.changed() is None
    path.write_text("10.0.0.5:5070\n10.0.0.6:5070\n")
    assert watch.changed() == ("10.0.0.5:5070", "10.0.0.6:5070")
    assert watch.changed() is None
    path.write_text("10.0.0.5\n")  # a bad line: logged once, the nodes stay as they were
    assert watch.changed() is None and "line 1" in caplog.text
    assert watch.changed() is None
    path.unlink()
    assert watch.changed() is None
    with pytest.raises(CliError, match="nodes"):
        watch.read()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["front"], "give the nodes: --node IP:PORT"),
        (["front", "--node", "node1:5070"], "--node: 'node1:5070' must be IP:PORT"),
        (["front", "--bind", "localhost", "--node", "127.0.0.1:5070"], "needs an IP address"),
        (["front", "--nodes-file", "/nonexistent/nodes"], "--nodes-file /nonexistent/nodes"),
    ],
    ids=["no-nodes", "named-node", "named-bind", "no-file"],
)
def test_a_bad_value_is_one_error_line_and_exit_2(argv, needle, capsys):
    from listenin.cli import main

    if shutil.which("kamailio") is None:
        needle = "needs kamailio"
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("listenin: error: "), err
    assert needle in err[0]


# -- real nodes behind a real front ----------------------------------------------------


class Front:
    """``listenin front`` in a child process, its stderr kept in a file."""

    def __init__(self, tmp: Path, port: int, *args: str) -> None:
        self.stderr = (tmp / "front.log").open("w+")
        cmd = [sys.executable, "-m", "listenin", "front", "--sip-port", str(port), *args]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stderr=self.stderr, text=True)

    def log(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.stderr.close()
        return self.proc.returncode


def node(tmp: Path, name: str, front_port: int) -> tuple[RunningDevice, int]:
    """A ``listenin run`` node (one device process) that believes the front's header."""
    (tmp / name).mkdir()
    port = free_udp_port()
    return RunningDevice(port, tmp / name, "--front", "kamailio", "--max-calls", "4",
                         "--front-source", f"127.0.0.1:{front_port}", "-v"), port  # fmt: skip


def calls(front_port: int, prefix: str, sessions: int, seconds: float) -> subprocess.Popen[str]:
    """The simulator's per-party calls (a SIP call per party) through the front."""
    return subprocess.Popen(
        [sys.executable, "-m", "pbxsim", f"sip:listenin@127.0.0.1:{front_port}", "--fixture",
         "call2", "--form", "per-party", "--sessions", str(sessions), "--seconds", str(seconds),
         "--start-s", "18", "--session-prefix", prefix],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def legs(sim: subprocess.Popen[str]) -> list[dict]:
    out, _ = sim.communicate(timeout=90)
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def joined(dev: RunningDevice, prefix: str) -> dict[str, set[str]]:
    """Session -> the parties that joined it on this node."""
    found: dict[str, set[str]] = {}
    for e in dev.events:
        if e["type"] == "party.joined" and e["call_id"].startswith(prefix + "-"):
            found.setdefault(e["call_id"], set()).add(e["party"])
    return found


def ended(dev: RunningDevice, sessions: set[str]) -> dict[str, str | None]:
    return {e["call_id"]: e.get("reason") for e in dev.events
            if e["type"] == "call.ended" and e["call_id"] in sessions}  # fmt: skip


def options(port: int, uri: str) -> str:
    """The status line of the answer to one OPTIONS for ``uri`` sent to 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(5)
        local = s.getsockname()[1]
        s.sendto(
            (f"OPTIONS {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bKo1\r\n"
             f"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <{uri}>\r\nCall-ID: o-{local}\r\n"
             "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode(),
            ("127.0.0.1", port),
        )  # fmt: skip
        return s.recv(4096).decode().split("\r\n", 1)[0]


@needs_kamailio
def test_a_front_starts_with_no_node_up_and_answers_for_itself(tmp_path):
    port = free_udp_port()
    front = Front(tmp_path, port, "--node", f"127.0.0.1:{free_udp_port()}")
    try:
        wait_until(lambda: "listenin front: SIP on" in front.log(), "the front started", 30)
        assert options(port, f"sip:127.0.0.1:{port}") == "SIP/2.0 200 Up"
    finally:
        assert front.stop() == 0, front.log()


@needs_kamailio
def test_two_nodes_behind_one_front_and_one_stopped(tmp_path):
    front_port = free_udp_port()
    (a, a_port), (b, b_port), (c, c_port) = (node(tmp_path, n, front_port) for n in "abc")
    nodes_file = tmp_path / "nodes"
    nodes_file.write_text(f"127.0.0.1:{b_port}\n")
    front = Front(tmp_path, front_port, "--node", f"127.0.0.1:{a_port}", "--nodes-file",
                  str(nodes_file))  # fmt: skip
    try:
        for dev, port in ((a, a_port), (b, b_port), (c, c_port)):
            wait_until_answering(("127.0.0.1", port), dev)
        wait_until(lambda: "listenin front: SIP on" in front.log(), "the front started", 30)
        # four calls, two parties each: the calls hash over both nodes (these session ids
        # hash 2 and 2), and the two legs of a call meet on one node
        sim = calls(front_port, "spread", 4, 8)
        everyone = {f"spread-{n}" for n in range(1, 5)}
        both = lambda: {**joined(a, "spread"), **joined(b, "spread")}  # noqa: E731
        assert wait_for(lambda: set(both()) == everyone and all(
            len(p) == 2 for p in both().values()), 30), (both(), front.log())  # fmt: skip
        on_a, on_b = set(joined(a, "spread")), set(joined(b, "spread"))
        assert on_a and on_b and not on_a & on_b, (on_a, on_b)
        # the devices judged the original peer (the simulator), not the front it came through
        peers = set(re.findall(r"answered leg \S+ from (\S+) ", a.log(-1) + b.log(-1)))
        assert len(peers) == 1 and f"127.0.0.1:{front_port}" not in peers, peers
        # node b stops mid-call: it hangs up its own calls; a's calls go on to their end
        b.stop()
        got = {leg["session_id"]: leg for leg in legs(sim)}
        assert all(got[s]["reason"] == "BYE from device" for s in on_b), got
        assert all(got[s]["reason"] == "OK" and got[s]["answered"] for s in on_a), got
        wait_until(lambda: set(ended(a, on_a)) == on_a, "a's calls ended", 30)
        assert set(ended(a, on_a).values()) == {None}  # ended by the caller, not lost
        finals = {e["call_id"] for e in a.events if e["type"] == "transcript.final"}
        assert on_a <= finals, a.log()
        # new calls all go to a, the node left
        after = legs(calls(front_port, "after", 2, 2))
        assert len(after) == 4 and all(leg["answered"] for leg in after), (after, front.log())
        wait_until(lambda: len(joined(a, "after")) == 2, "a took the new calls", 30)
        # node c written into the nodes file (b's place): taken without a restart, and the
        # calls that hashed to b now hash to c
        nodes_file.write_text(f"# b is gone\n127.0.0.1:{c_port}\n")
        wait_until(lambda: "nodes now" in front.log(), "the front reloaded its nodes", 30)
        assert f"nodes now 127.0.0.1:{a_port} 127.0.0.1:{c_port}" in front.log()
        sim = calls(front_port, "spread", 4, 5)
        c_parties = lambda: joined(c, "spread")  # noqa: E731
        assert wait_for(lambda: set(c_parties()) == on_b and all(
            len(p) == 2 for p in c_parties().values()), 30), (c_parties(), front.log())  # fmt: skip
        # c taken off the list mid-call is drained: its calls still end with the caller's BYE
        nodes_file.write_text("")
        drained = f"nodes now 127.0.0.1:{a_port}, draining 127.0.0.1:{b_port} 127.0.0.1:{c_port}"
        wait_until(lambda: drained in front.log(), "the front drains c", 30)
        again = legs(sim)
        assert all(leg["answered"] and leg["reason"] == "OK" for leg in again), again
        wait_until(lambda: set(ended(c, on_b)) == on_b, "c's calls ended", 30)
        assert set(ended(c, on_b).values()) == {None}
        assert front.proc.poll() is None and a.alive() and c.alive()
    finally:
        for dev in (a, b, c):
            dev.stop()
        assert front.stop() == 0, front.log()
