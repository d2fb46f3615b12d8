"""softphone/endpoint.py: a pjsua2 object freed by Python's garbage collector on a thread
pjlib does not know must not abort the process (it did: a node behind ``listenin front``
died with pjlib's "Calling pjlib from unknown/external thread" when a collection ran on a
pipeline thread)."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from .running import ROOT

# A media port in a reference cycle, freed by a collection on a fresh thread.
PROBE = """
import gc, sys, threading
import pjsua2 as pj
from softphone.endpoint import guard_collector
ep = pj.Endpoint(); ep.libCreate(); ec = pj.EpConfig(); ec.uaConfig.threadCnt = 0
ec.uaConfig.mainThreadOnly = False; ec.logConfig.level = 0; ec.logConfig.consoleLevel = 0
ep.libInit(ec); ep.libStart(); ep.audDevManager().setNullDev()
if sys.argv[1] == "guarded":
    guard_collector(ep)
gc.disable()
class Port(pj.AudioMediaPort):
    pass
fmt = pj.MediaFormatAudio(); fmt.type = pj.PJMEDIA_TYPE_AUDIO; fmt.clockRate = 8000
fmt.channelCount = 1; fmt.bitsPerSample = 16; fmt.frameTimeUsec = 20000
for n in range(3):
    port = Port(); port.createPort(f"p{n}", fmt); port.me = port
    del port
    worker = threading.Thread(target=gc.collect); worker.start(); worker.join()
guard_collector(None); ep.libDestroy(); print("freed")
"""


@pytest.mark.parametrize("mode", ["guarded", "unguarded"])
def test_a_collection_on_a_foreign_thread_frees_pjsua2_objects(mode):
    r = subprocess.run([sys.executable, "-c", PROBE, mode], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)  # fmt: skip
    if mode == "guarded":
        assert r.returncode == 0 and "freed" in r.stdout, r.stderr[-2000:]
    else:  # the control: pjlib aborts the process, so the guarded case above means something
        assert r.returncode == -signal.SIGABRT and "unknown/external thread" in r.stderr
