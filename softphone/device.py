"""The supervisor device: one pjsua2 endpoint on its own thread.

It registers (when a registrar is configured), answers supervise INVITEs that
:func:`~softphone.admission.admit` accepts, never sends audio (every stream is
answered ``recvonly``), taps each party's decoded PCM and publishes everything
as plain records on one outbox: :class:`~records.frames.AudioFrame` plus the
:mod:`records.device` records.  The consumer calls :meth:`Device.get`.

Threads: pjsua2 runs with no worker threads; the device thread polls
``libHandleEvents`` and runs every SIP callback, PJMEDIA's clock thread runs the
taps.  Both only do non-blocking puts.  Frames are bounded
(``DeviceConfig.frame_queue``; policy ``drop_newest_frame``, counted), call
events are never dropped.  Other threads talk to the device through
:meth:`Device.submit`, which runs a function on the device thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pjsua2 as pj

from records.device import (
    DeviceEvent,
    LegAnswered,
    LegEnded,
    LegRejected,
    RegistrationChanged,
    StreamLabel,
    StreamStats,
)
from records.frames import AudioFrame

from .admission import Admission, PartyRoles, admit, uri_hostport
from .clock import SessionClock, StreamClock
from .config import WHEEL_MAX_CALLS, DeviceConfig
from .tap import Tap

log = logging.getLogger(__name__)
_pjsip_log = logging.getLogger("pjsip")

_TAPPABLE = (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD)
_instance_lock = threading.Lock()  # pjsua2 has one endpoint per process


class DeviceError(RuntimeError):
    """The device could not start (bad transport, port in use, library error)."""


@dataclass(slots=True)
class DeviceStats:
    answered: int = 0
    rejected: int = 0
    dropped_frames: int = 0  # frames refused because the outbox was full
    answer_ms: deque[float] = field(default_factory=lambda: deque(maxlen=1000))


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


def _pj_error(err: pj.Error) -> str:
    try:
        return str(err.info())
    except Exception:  # pragma: no cover - defensive
        return repr(err)


class _PjLog(pj.LogWriter):  # type: ignore[misc]
    """PJSIP's log into Python logging (logger ``pjsip``); spots the wheel's call limit."""

    def __init__(self, device: Device) -> None:
        super().__init__()
        self.device = device

    def write(self, entry: pj.LogEntry) -> None:
        try:
            msg = str(entry.msg).rstrip()
            if "too many calls" in msg:
                reason = f"device at the wheel's {WHEEL_MAX_CALLS}-call limit (PJSUA_MAX_CALLS)"
                log.warning("INVITE rejected 486: %s", reason)
                self.device.stats.rejected += 1
                self.device._publish(LegRejected("", 486, reason))
                return
            level = {0: logging.ERROR, 1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO}
            _pjsip_log.log(level.get(int(entry.level), logging.DEBUG), "%s", msg)
        except Exception:  # pragma: no cover - never raise into PJSIP
            pass


class _Leg(pj.Call):  # type: ignore[misc]
    """One INVITE dialog.  Callbacks run on the device thread."""

    def __init__(self, device: Device, account: pj.Account, call_id: int) -> None:
        super().__init__(account, call_id)
        self.device = device
        self.key = f"{call_id}.{next(device._serial)}"
        self.admission: Admission | None = None
        self.taps: dict[int, Tap] = {}
        self.ended = False

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
        try:
            info = self.getInfo()
            if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                self.device._leg_ended(self, f"{info.lastStatusCode} {info.lastReason}")
        except Exception:
            log.exception("leg %s: call state callback failed", self.key)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        try:
            self.device._tap_streams(self)
        except Exception:
            log.exception("leg %s: media state callback failed", self.key)


class _Account(pj.Account):  # type: ignore[misc]
    def __init__(self, device: Device) -> None:
        super().__init__()
        self.device = device

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802
        try:
            self.device._incoming(self, prm)
        except Exception:
            log.exception("incoming call handling failed")

    def onRegState(self, prm: pj.OnRegStateParam) -> None:  # noqa: N802
        try:
            info = self.getInfo()
            event = RegistrationChanged(
                int(prm.code), str(prm.reason), bool(info.regIsActive), int(info.regExpiresSec)
            )
            level = logging.INFO if event.registered or prm.code // 100 == 2 else logging.WARNING
            log.log(level, "registration: %d %s (active=%s, expires %d s)",
                    event.code, event.reason, event.registered, event.expires_s)  # fmt: skip
            self.device._publish(event)
        except Exception:
            log.exception("registration callback failed")


class Device:
    """Start with :meth:`start`, read with :meth:`get`, end with :meth:`stop`."""

    def __init__(self, config: DeviceConfig | None = None, roles: PartyRoles | None = None):
        self.config = config or DeviceConfig()
        self.roles = roles or PartyRoles()
        self.stats = DeviceStats()
        self.address: str | None = None  # "ip:port" of the first SIP transport
        self._outbox: queue.SimpleQueue[AudioFrame | DeviceEvent] = queue.SimpleQueue()
        self._frames_in = 0  # written only by the media thread
        self._frames_out = 0  # written only by the consumer
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._legs: dict[int, _Leg] = {}
        self._finished: list[_Leg] = []  # disconnected; freed on the next loop turn
        self._sessions: dict[str, tuple[SessionClock, set[str]]] = {}
        self._serial = iter(range(1, 1 << 62))
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._error: str | None = None
        self._trusted_extra: tuple[str, ...] = ()

    # -- consumer side ---------------------------------------------------------
    def start(self, timeout_s: float = 10.0) -> None:
        if not _instance_lock.acquire(blocking=False):
            raise DeviceError("a pjsua2 device already runs in this process (one per process)")
        self._thread = threading.Thread(target=self._run, name="sip-device", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s) or self._error:
            self._stop.set()
            self._thread.join(timeout_s)
            _instance_lock.release()
            raise DeviceError(self._error or "device did not start in time")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Hang up every call, flush their ends to the outbox, shut pjsua2 down."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout_s)
        self._thread = None
        _instance_lock.release()

    def get(self, timeout_s: float | None = None) -> AudioFrame | DeviceEvent | None:
        """Next record, or None after ``timeout_s``."""
        try:
            item = self._outbox.get(timeout=timeout_s)
        except queue.Empty:
            return None
        if isinstance(item, AudioFrame):
            self._frames_out += 1
        return item

    def submit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the device thread (the only thread that touches pjsua2)."""
        self._commands.put(fn)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def open_legs(self) -> int:
        return len(self._legs)

    # -- publishing (device and media threads) ---------------------------------
    def _offer(self, frame: AudioFrame) -> None:
        if self._frames_in - self._frames_out >= self.config.frame_queue:
            self.stats.dropped_frames += 1  # policy: drop_newest_frame
            return
        self._frames_in += 1
        self._outbox.put(frame)

    def _publish(self, event: DeviceEvent) -> None:
        self._outbox.put(event)  # call events are never dropped (they are rare)

    # -- the device thread -----------------------------------------------------
    def _run(self) -> None:
        try:
            ep = self._create_endpoint()
        except pj.Error as err:
            self._error = f"pjsua2 failed to start: {_pj_error(err)}"
            self._ready.set()
            self._destroy(None)
            return
        except Exception as err:
            self._error = f"device failed to start: {err}"
            self._ready.set()
            self._destroy(None)
            return
        self._ready.set()
        next_stats = time.monotonic() + self.config.media.stats_interval_s
        try:
            while not self._stop.is_set():
                ep.libHandleEvents(10)
                self._finished.clear()
                while True:
                    try:
                        fn = self._commands.get_nowait()
                    except queue.Empty:
                        break
                    try:
                        fn()
                    except Exception:
                        log.exception("device command failed")
                if time.monotonic() >= next_stats:
                    next_stats += self.config.media.stats_interval_s
                    self.publish_stats()
        finally:
            self._shutdown(ep)

    def _create_endpoint(self) -> pj.Endpoint:
        cfg = self.config
        ep = pj.Endpoint()
        with quiet_stderr(cfg.log_level == 0):  # PJSIP logs its start-up before libInit
            ep.libCreate()
        self._ep = ep
        ec = pj.EpConfig()
        ec.uaConfig.threadCnt = 0
        ec.uaConfig.mainThreadOnly = False
        ec.uaConfig.maxCalls = WHEEL_MAX_CALLS  # admission enforces the configured limit
        self._log_writer = _PjLog(self)
        ec.logConfig.writer = self._log_writer
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
        ep.libInit(ec)
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
            if self.address is None:
                self.address = ep.transportGetInfo(tid).localName
        ep.libStart()
        ep.audDevManager().setNullDev()
        self._set_codecs(ep)
        self._account = self._create_account()
        log.info("device listening on %s (codecs %s, srtp %s, max %d calls)", self.address,
                 ",".join(cfg.media.codecs), cfg.media.srtp, cfg.admission.max_calls)  # fmt: skip
        return ep

    def _set_codecs(self, ep: pj.Endpoint) -> None:
        wanted = self.config.media.codecs
        for codec in ep.codecEnum2():
            name = codec.codecId.split("/")[0].upper()
            prio = 250 - 10 * wanted.index(name) if name in wanted else 0
            ep.codecSetPriority(codec.codecId, prio)

    def _create_account(self) -> _Account:
        cfg = self.config
        acc_cfg = pj.AccountConfig()
        a = cfg.account
        acc_cfg.idUri = f"sip:{a.user}@{a.domain}"
        if a.registrar:
            acc_cfg.regConfig.registrarUri = a.registrar
            acc_cfg.regConfig.timeoutSec = a.register_expires_s
            acc_cfg.regConfig.retryIntervalSec = a.retry_interval_s
            if self.config.admission.trust_registrar:
                self._trusted_extra += (uri_hostport(a.registrar),)
        else:
            acc_cfg.regConfig.registerOnAdd = False
        if a.proxy:
            acc_cfg.sipConfig.proxies.append(a.proxy)
            if self.config.admission.trust_registrar:
                self._trusted_extra += (uri_hostport(a.proxy),)
        if a.password:
            acc_cfg.sipConfig.authCreds.append(
                pj.AuthCredInfo("digest", "*", a.auth_user or a.user, 0, a.password)
            )
        srtp = {"off": pj.PJMEDIA_SRTP_DISABLED, "optional": pj.PJMEDIA_SRTP_OPTIONAL,
                "mandatory": pj.PJMEDIA_SRTP_MANDATORY}[cfg.media.srtp]  # fmt: skip
        acc_cfg.mediaConfig.srtpUse = srtp
        acc_cfg.mediaConfig.srtpSecureSignaling = 0  # SDES keys over UDP signalling too
        acc_cfg.mediaConfig.transportConfig.port = cfg.transport.rtp_port
        acc_cfg.mediaConfig.transportConfig.boundAddress = cfg.transport.bind_address
        acc_cfg.mediaConfig.transportConfig.publicAddress = cfg.transport.bind_address
        account = _Account(self)
        account.create(acc_cfg)
        return account

    def _incoming(self, account: _Account, prm: pj.OnIncomingCallParam) -> None:
        t0 = time.perf_counter()
        source = str(prm.rdata.srcAddress)
        invite = str(prm.rdata.wholeMsg)  # one copy out of SWIG
        log.debug("INVITE from %s:\n%s", source, invite)
        decision = admit(
            invite,
            source,
            len(self._legs),
            self.config.admission,
            self.roles,
            self._trusted_extra,
        )
        leg = _Leg(self, account, prm.callId)
        op = pj.CallOpParam()
        op.statusCode = decision.status
        if not decision.accepted:
            op.reason = decision.reason[:100].replace("\r", " ").replace("\n", " ")
            self._finished.append(leg)  # keep it alive until the reply is out
            self.stats.rejected += 1
            log.warning("INVITE from %s rejected %d: %s", source, decision.status, decision.reason)
            leg.answer(op)
            self._publish(LegRejected(source, decision.status, decision.reason))
            return
        assert decision.identity is not None
        leg.admission = decision
        self._legs[prm.callId] = leg
        session = decision.identity.session_id
        self._sessions.setdefault(session, (SessionClock(self.config.media.tap_rate_hz), set()))[
            1
        ].add(leg.key)
        n = max(s.media_index for s in decision.streams) + 1
        op.opt.audioCount = n
        op.opt.videoCount = 0
        op.opt.mediaDir = pj.IntVector([pj.PJMEDIA_DIR_DECODING] * n)  # recvonly: never talk
        leg.answer(op)
        answer_ms = (time.perf_counter() - t0) * 1000
        self.stats.answered += 1
        self.stats.answer_ms.append(answer_ms)
        log.info("call %s: answered leg %s from %s in %.1f ms, streams %s", session, leg.key,
                 source, answer_ms, [s.label for s in decision.streams])  # fmt: skip
        self._publish(
            LegAnswered(
                leg.key, session, decision.streams, source, decision.identity.source, answer_ms
            )  # fmt: skip
        )

    def _label(self, leg: _Leg, media_index: int) -> StreamLabel:
        assert leg.admission is not None
        for s in leg.admission.streams:
            if s.media_index == media_index:
                return s
        return StreamLabel(media_index, None, f"stream-{media_index}")

    def _tap_streams(self, leg: _Leg) -> None:
        if leg.admission is None or leg.ended:
            return
        session = leg.admission.identity.session_id  # type: ignore[union-attr]
        clock = self._sessions[session][0]
        info = leg.getInfo()  # keep it: .media dangles once a temporary CallInfo is freed
        for media in info.media:
            log.debug("leg %s media %d type %d status %d dir %d", leg.key, media.index, media.type,
                      media.status, media.dir)  # fmt: skip
            if (
                media.type != pj.PJMEDIA_TYPE_AUDIO
                or media.status not in _TAPPABLE
                or media.index in leg.taps
            ):
                continue
            stream = self._label(leg, media.index)
            label = stream.label
            # The tap runs at the stream's codec rate (the bridge resamples to it), so a
            # G.711 party reaches the pipeline at 8 kHz, as its recording would in replay.
            bridge_hz = self.config.media.tap_rate_hz
            try:
                codec_hz = int(leg.getStreamInfo(media.index).codecClockRate)
            except pj.Error:
                codec_hz = bridge_hz
            rate = codec_hz if codec_hz in (8000, 16000) and codec_hz <= bridge_hz else bridge_hz
            tap = Tap(session, label, rate, StreamClock(clock, rate), self._offer, stream.kind)
            leg.getAudioMedia(media.index).startTransmit(tap)
            leg.taps[media.index] = tap
            log.info("call %s: tapping party %s (stream %d, %d Hz)", session, label, media.index,
                     rate)  # fmt: skip

    def _leg_ended(self, leg: _Leg, reason: str) -> None:
        if leg.ended:
            return
        leg.ended = True
        for tap in leg.taps.values():  # no more frames from this leg after this point
            tap.destroy()
        self._legs.pop(leg.getId(), None)
        self._finished.append(leg)
        if leg.admission is None:
            return
        session = leg.admission.identity.session_id  # type: ignore[union-attr]
        labels = tuple(tap.label for tap in leg.taps.values())
        entry = self._sessions.get(session)
        if entry is not None:
            entry[1].discard(leg.key)
            if not entry[1]:
                del self._sessions[session]
        log.info("call %s: leg %s ended (%s)", session, leg.key, reason)
        self._publish(LegEnded(leg.key, session, labels, reason))

    def publish_stats(self) -> list[StreamStats]:
        """Read PJMEDIA's per-stream RTP and jitter-buffer counters (device thread)."""
        out = []
        for leg in list(self._legs.values()):
            session = leg.admission.identity.session_id  # type: ignore[union-attr]
            for index, tap in leg.taps.items():
                try:
                    st = leg.getStreamStat(index)
                    codec = leg.getStreamInfo(index).codecName
                except pj.Error:
                    continue
                rx, jbuf = st.rtcp.rxStat, st.jbuf
                stats = StreamStats(
                    session, tap.label, str(codec), int(rx.pkt), int(rx.loss), int(rx.discard),
                    int(rx.reorder), int(rx.dup), rx.jitterUsec.mean / 1000.0,
                    int(jbuf.avgDelayMsec), int(jbuf.lost), int(jbuf.discard), int(jbuf.empty),
                    self.stats.dropped_frames,
                )  # fmt: skip
                log.info("call %s party %s: %s rx %d lost %d discard %d reorder %d jitter "
                         "%.1f ms, jb delay %d ms lost %d discard %d empty %d",
                         session, tap.label, stats.codec, stats.rx_packets, stats.lost,
                         stats.discarded, stats.reordered, stats.jitter_ms, stats.jb_delay_ms,
                         stats.jb_lost, stats.jb_discarded, stats.jb_empty)  # fmt: skip
                self._publish(stats)
                out.append(stats)
        return out

    def _shutdown(self, ep: pj.Endpoint) -> None:
        """Order matters: pjsua2 aborts the process if a Call outlives the library."""
        try:
            if self._legs:
                ep.hangupAllCalls()
                deadline = time.monotonic() + 2.0
                while self._legs and time.monotonic() < deadline:
                    ep.libHandleEvents(10)
            for leg in list(self._legs.values()):  # the remote never answered our BYE
                self._leg_ended(leg, "device shutdown")
        except pj.Error as err:
            log.warning("hangup at shutdown failed: %s", _pj_error(err))
        self._destroy(ep)

    def _destroy(self, ep: pj.Endpoint | None) -> None:
        self._legs.clear()
        self._finished.clear()
        self._sessions.clear()
        account = getattr(self, "_account", None)
        if account is not None:
            try:
                account.shutdown()
            except pj.Error:
                pass
            self._account = None  # type: ignore[assignment]
        gc.collect()
        ep = ep or getattr(self, "_ep", None)
        if ep is not None:
            try:
                ep.libDestroy()
            except pj.Error as err:
                log.warning("pjsua2 shutdown: %s", _pj_error(err))
        self._ep = None
