"""The device pool: its sizing and bookkeeping, and a real ``listenin run`` with five
device processes behind kamailio taking 10 per-party calls (20 SIP calls) at once,
one process killed with SIGKILL mid-call.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections import defaultdict

import numpy as np
import pytest

from records.device import ClockOrigin, DigitSignalled, LegAnswered, LegEnded, StreamLabel
from records.frames import AudioFrame
from softphone.config import AccountConfig, AdmissionConfig, DeviceConfig
from softphone.pool import DevicePool, process_configs, split_calls

from ..waiting import wait_for
from .running import ROOT, RunningDevice, free_udp_port, wait_until_answering

needs_kamailio = pytest.mark.skipif(
    shutil.which("kamailio") is None, reason="kamailio is not installed (apt-get install kamailio)"
)


def test_calls_are_split_four_per_process():
    assert split_calls(4) == [4]
    assert split_calls(10) == [4, 4, 2]
    assert split_calls(20) == [4] * 5
    with pytest.raises(ValueError):
        split_calls(0)


def test_only_the_first_process_registers_and_the_others_trust_the_registrar():
    config = DeviceConfig(
        account=AccountConfig("listenin", "pbx", registrar="sip:10.0.0.9:5080"),
        admission=AdmissionConfig(trusted=("192.0.2.0/24",)),
    )
    first, second, third = process_configs(config, 10)
    assert [c.admission.max_calls for c in (first, second, third)] == [4, 4, 2]
    assert len({c.transport.udp_port for c in (first, second, third)}) == 3
    assert first.account.registrar == "sip:10.0.0.9:5080" and first.admission.trust_registrar
    assert second.account.registrar is None
    assert second.admission.trusted == ("192.0.2.0/24", "10.0.0.9:5080")


def frame(session: str, start: int) -> AudioFrame:
    return AudioFrame(session, "agent", 8000, start, np.zeros(160, np.int16))


def test_legs_of_one_session_on_two_processes_share_one_call_clock():
    pool = DevicePool(process_configs(DeviceConfig(), 8))
    one, two = pool._slots
    streams = (StreamLabel(0, "p", "agent"),)
    pool._take(one, LegAnswered("0.1", "s", streams, "src", "headers", 1.0))
    pool._take(two, LegAnswered("0.1", "s", streams, "src", "headers", 1.0))
    pool._take(one, ClockOrigin("s", 1_000_000_000))
    pool._take(two, ClockOrigin("s", 1_000_000_000 + 61_000_000))  # 3 frames later
    pool._take(one, frame("s", 0))
    pool._take(two, frame("s", 0))
    got = [pool.get(0) for _ in range(4)]
    legs = [i.leg for i in got if isinstance(i, LegAnswered)]
    assert legs == ["0.0/0.1", "1.0/0.1"]  # the same key in two processes: two legs
    assert [i.start for i in got if isinstance(i, AudioFrame)] == [0, 3 * 160]
    pool._take(two, DigitSignalled("s", "agent", "5", 800, 1600, 8000))  # as frames are moved
    assert pool.get(0) == DigitSignalled("s", "agent", "5", 800 + 480, 1600 + 480, 8000)
    pool._take(one, LegEnded("0.1", "s", ("agent",), "BYE"))
    pool._take(two, LegEnded("0.1", "s", ("agent",), "BYE"))
    assert not pool._origins and not pool._sessions and not one.offsets and not two.offsets


def test_a_dead_process_ends_only_its_own_legs_saying_why():
    pool = DevicePool(process_configs(DeviceConfig(), 8))
    one, two = pool._slots
    streams = (StreamLabel(0, "p", "agent"),)
    pool._take(one, LegAnswered("0.1", "a", streams, "src", "headers", 1.0))
    pool._take(two, LegAnswered("0.1", "b", streams, "src", "headers", 1.0))

    class Dead:
        exitcode = -9

        def join(self, timeout: float) -> None:
            pass

    one.proc = Dead()
    pool._lost(one)
    items = [pool.get(0) for _ in range(3)]
    (ended,) = [i for i in items if isinstance(i, LegEnded)]
    assert (ended.session_id, ended.lost, ended.labels) == ("a", True, ("agent",))
    assert ended.reason == "device process 0 died (signal 9)"
    assert not one.legs and two.legs and pool._sessions == {"b": 1}


ANSWERED = re.compile(r"device(\d+)\[(\d+)\] INFO softphone\.device: call (\S+): answered leg")


def simulator(port: int, sessions: int, seconds: float, prefix: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pbxsim", f"sip:listenin@127.0.0.1:{port}", "--fixture", "call2",
         "--form", "per-party", "--sessions", str(sessions), "--start-s", "18", "--seconds",
         str(seconds), "--session-prefix", prefix],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


@needs_kamailio
def test_twenty_sip_calls_at_once_and_a_killed_process_ends_only_its_calls(tmp_path):
    port = free_udp_port()
    dev = RunningDevice(port, tmp_path, "--front", "kamailio", "--max-calls", "20",
                        "--max-queued-finals", "0", "--max-asr-lag-ms", "0", "-v")  # fmt: skip
    try:
        wait_until_answering(("127.0.0.1", port), dev)
        assert wait_for(lambda: " ready (" in dev.log(), 30), dev.log()
        sim = simulator(port, 10, 14, "pool")
        assert wait_for(lambda: len(ANSWERED.findall(dev.log(-1))) == 20, 30), dev.log()
        where = defaultdict(set)  # device index: sessions with a leg there
        pids = {}
        for index, pid, session in ANSWERED.findall(dev.log(-1)):
            where[int(index)].add(session)
            pids[int(index)] = int(pid)
        assert len(where) == 5  # round robin: every process took calls
        victim = min(where)
        wait_for(lambda: False, 4)  # mid-call
        os.kill(pids[victim], signal.SIGKILL)
        out, _ = sim.communicate(timeout=90)
        ended = lambda: [e for e in dev.events if e["type"] == "call.ended"]  # noqa: E731
        assert wait_for(lambda: len(ended()) == 10, 90), dev.log()
        lost = {e["call_id"]: e.get("reason") for e in ended()}
        for session, reason in lost.items():
            if session in where[victim]:
                assert reason == f"device process {victim} died (signal 9)", lost
            else:
                assert reason is None, lost
        parties = defaultdict(set)
        for e in dev.events:
            if e["type"] == "transcript.final" and e["text"].strip():
                parties[e["call_id"]].add(e["party"])
        whole = set(lost) - where[victim]
        assert whole and all(len(parties[s]) == 2 for s in whole), (parties, dev.log())
        # the process is started again and takes new calls
        assert wait_for(lambda: f"device process {victim} started again" in dev.log(-1), 30)
        before = len(ANSWERED.findall(dev.log(-1)))
        again = simulator(port, 10, 2, "again")
        again.communicate(timeout=60)
        later = ANSWERED.findall(dev.log(-1))[before:]
        assert len(later) == 20, dev.log()
        assert any(int(i) == victim and int(p) != pids[victim] for i, p, _ in later)
        assert dev.alive()
    finally:
        dev.stop()
