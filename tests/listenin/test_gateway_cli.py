"""``listenin gateway`` and ``--bus``: refused values are one line; a gateway serves."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[2]

BAD_VALUES = [
    (["gateway"], "a gateway needs a bus: --bus redis://"),
    (["gateway", "--bus", "http://127.0.0.1/0"], "--bus: url must look like redis://"),
    (["run", "--sip-port", "0", "--rtp-port", "0", "--no-server", "--bus",
      "redis://127.0.0.1:1/0"], "--no-server with a bus"),
    (["run", "--sip-port", "0", "--rtp-port", "0", "--ws-port", "0", "--bus", "redis:nope"],
     "--bus: url must look like"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "needle"), BAD_VALUES, ids=lambda v: " ".join(v))
def test_bad_value_is_one_error_line_and_exit_2(argv, needle, capsys):
    from listenin.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("listenin: error: "), err
    assert needle in err[0]


def test_a_gateway_process_serves_the_api_and_stops_on_sigterm(redis_server):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "listenin", "gateway", "--bus", redis_server.url,
           "--ws-port", "0"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        url = re.search(r"on (ws://\S+/ws)", line)
        assert url, line

        async def hello() -> dict:
            async with connect(url.group(1)) as ws:
                return json.loads(await asyncio.wait_for(ws.recv(), 30))  # type: ignore[no-any-return]

        hello_msg = {"type": "hello", "server": "listenin", "calls": {}, "recording": True}
        assert asyncio.run(hello()) == hello_msg  # pause/resume reach nodes over the bus
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
