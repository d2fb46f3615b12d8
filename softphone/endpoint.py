"""The pjsua2 endpoint: library start-up, transports, codecs and PJSIP's log.

:func:`create_endpoint` makes the one :class:`pjsua2.Endpoint` of a process
with no worker threads (the device thread polls it), the media settings the
device listens with (bridge clock, jitter buffer, no VAD, a null sound device),
the SIP transports and codec priorities.  :class:`PjLog` carries PJSIP's log
into Python logging (logger ``pjsip``) and spots the wheel's own call-limit
refusal.  :func:`quiet_stderr` hides what PJSIP prints before its log is set up.
:func:`guard_collector` keeps Python's cyclic garbage collector from aborting the
process when it frees a pjsua2 object on a thread pjlib does not know.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator

import pjsua2 as pj

from .config import WHEEL_MAX_CALLS, DeviceConfig

log = logging.getLogger(__name__)
_pjsip_log = logging.getLogger("pjsip")

# PJSUA's own 486 for a call past PJSUA_MAX_CALLS reaches Python only as this log text
# (no callback sees that INVITE), so the text is the signal.
_CALL_LIMIT_TEXT = "too many calls"


# The endpoint whose pjlib a collecting thread registers with (one per process, while live).
_collector_endpoint: list[pj.Endpoint] = []


def _register_collector(phase: str, info: dict[str, int]) -> None:
    """gc callback: a pjsua2 object (a Call, a media port) in a reference cycle is freed by
    whichever thread the collection runs on; its C++ destructor calls pjlib, which aborts
    the whole process from an unregistered thread (``pj_thread_this``: "Calling pjlib from
    unknown/external thread").  Register that thread first."""
    if phase != "start" or not _collector_endpoint:
        return
    if isinstance(threading.current_thread(), threading._DummyThread):
        # a thread started in C: pjlib's own (the media clock calling a Tap); it may hold a
        # pjlib lock right now, and registering it again would change who owns that lock
        return
    try:
        ep = _collector_endpoint[0]
        if not ep.libIsThreadRegistered():
            ep.libRegisterThread(f"gc-{threading.get_ident()}")
    except Exception:  # pragma: no cover - never raise out of the collector
        pass


def guard_collector(ep: pj.Endpoint | None) -> None:
    """Register any thread that runs a garbage collection with ``ep``'s pjlib (None: stop,
    before ``libDestroy``).  Idempotent; one callback per process."""
    _collector_endpoint.clear()
    if ep is not None:
        _collector_endpoint.append(ep)
        if _register_collector not in gc.callbacks:
            gc.callbacks.append(_register_collector)


def is_call_limit(message: str) -> bool:
    """True for PJSUA's log line of an INVITE refused at the compiled-in call limit."""
    return _CALL_LIMIT_TEXT in message


@contextlib.contextmanager
def quiet_stderr(enabled: bool) -> Iterator[None]:
    """Silence C-level writes to fds 1 and 2 while ``enabled`` (PJSIP's start-up log)."""
    if not enabled:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        ctypes.CDLL(None).fflush(None)  # C stdio buffers what PJSIP printed
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def pj_error(err: pj.Error) -> str:
    try:
        return str(err.info())
    except Exception:  # pragma: no cover - defensive
        return repr(err)


class PjLog(pj.LogWriter):  # type: ignore[misc]
    """PJSIP's log into Python logging; ``on_call_limit`` hears of the wheel's 486s."""

    def __init__(self, on_call_limit: Callable[[str], None]) -> None:
        super().__init__()
        self.on_call_limit = on_call_limit

    def write(self, entry: pj.LogEntry) -> None:
        try:
            msg = str(entry.msg).rstrip()
            if is_call_limit(msg):
                self.on_call_limit(
                    f"device at the wheel's {WHEEL_MAX_CALLS}-call limit (PJSUA_MAX_CALLS)"
                )
                return
            level = {0: logging.ERROR, 1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO}
            _pjsip_log.log(level.get(int(entry.level), logging.DEBUG), "%s", msg)
        except Exception:  # pragma: no cover - never raise into PJSIP
            pass


def create_endpoint(cfg: DeviceConfig, writer: PjLog) -> tuple[pj.Endpoint, str | None]:
    """Start pjsua2; returns the endpoint and the "ip:port" of its first SIP transport."""
    ep = pj.Endpoint()
    with quiet_stderr(cfg.log_level == 0):  # PJSIP logs its start-up before libInit
        ep.libCreate()
    ec = pj.EpConfig()
    ec.uaConfig.threadCnt = 0
    ec.uaConfig.mainThreadOnly = False
    ec.uaConfig.maxCalls = WHEEL_MAX_CALLS  # admission enforces the configured limit
    ec.logConfig.writer = writer
    ec.logConfig.decor = 0
    ec.logConfig.msgLogging = cfg.log_level >= 4
    ec.uaConfig.userAgent = "listenin"
    ec.logConfig.level = max(cfg.log_level, 2)  # warnings always reach our logger
    ec.logConfig.consoleLevel = max(cfg.log_level, 2)
    med = ec.medConfig
    med.clockRate = cfg.media.tap_rate_hz
    med.sndClockRate = cfg.media.tap_rate_hz
    med.noVad = True
    jb = cfg.media.jitter
    med.jbInit, med.jbMinPre, med.jbMaxPre, med.jbMax = (
        jb.init_ms, jb.min_pre_ms, jb.max_pre_ms, jb.max_ms,
    )  # fmt: skip
    try:
        ep.libInit(ec)
        address = _create_transports(ep, cfg)
        ep.libStart()
        ep.audDevManager().setNullDev()
        set_codecs(ep, cfg.media.codecs)
    except BaseException:
        with contextlib.suppress(pj.Error):
            ep.libDestroy()
        raise
    guard_collector(ep)
    return ep, address


def _create_transports(ep: pj.Endpoint, cfg: DeviceConfig) -> str | None:
    address = None
    tr = cfg.transport
    for kind, port in (
        (pj.PJSIP_TRANSPORT_UDP, tr.udp_port),
        (pj.PJSIP_TRANSPORT_TCP, tr.tcp_port),
        (pj.PJSIP_TRANSPORT_TLS, tr.tls_port),
    ):
        if port is None:
            continue
        tc = pj.TransportConfig()
        tc.port = port
        tc.boundAddress = tr.bind_address
        if kind == pj.PJSIP_TRANSPORT_TLS:
            tc.tlsConfig.certFile = tr.tls_cert_file
            tc.tlsConfig.privKeyFile = tr.tls_key_file
        tid = ep.transportCreate(kind, tc)
        if address is None:
            address = ep.transportGetInfo(tid).localName
    return address


def set_codecs(ep: pj.Endpoint, wanted: tuple[str, ...]) -> None:
    """Codecs in ``wanted`` order of preference; every other codec off."""
    for codec in ep.codecEnum2():
        name = codec.codecId.split("/")[0].upper()
        prio = 250 - 10 * wanted.index(name) if name in wanted else 0
        ep.codecSetPriority(codec.codecId, prio)
