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

import gc
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import pjsua2 as pj

from records.device import (
    ClockOrigin,
    DeviceEvent,
    LegAnswered,
    LegEnded,
    LegRejected,
    RegistrationChanged,
    StreamStats,
)
from records.frames import AudioFrame
from records.labels import clean_label

from .account import DeviceAccount, account_config, reregister_for
from .admission import Admission, PartyRoles, admit, source_of
from .clock import SessionClock, StreamClock
from .config import DeviceConfig
from .endpoint import PjLog, create_endpoint, guard_collector, pj_error, quiet_stderr
from .leg import Leg
from .outbox import Outbox
from .ratelimit import SourceRateLimit
from .rtprelay import RelayStream, RtpRelay, relay_for
from .sessions import Sessions
from .tap import Tap

__all__ = ["Device", "DeviceError", "DeviceStats", "quiet_stderr"]

log = logging.getLogger(__name__)

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


class Device:
    """Start with :meth:`start`, read with :meth:`get`, end with :meth:`stop`."""

    def __init__(self, config: DeviceConfig | None = None, roles: PartyRoles | None = None):
        self.config = config or DeviceConfig()
        self.roles = roles or PartyRoles()
        self.stats = DeviceStats()
        self.address: str | None = None  # "ip:port" of the first SIP transport
        self._outbox = Outbox(self.config.frame_queue)  # frames from the media thread
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._legs: dict[int, Leg] = {}
        # Disconnected legs, freed once their pjsua call slot is idle: a pjsua2 Call freed
        # after its slot went to a new call would hang that call up (its destructor does).
        self._finished: list[Leg] = []
        # Refusals are answered after libHandleEvents returns, never inside onIncomingCall:
        # a non-2xx answer there to an INVITE without SDP aborts the process (PJSIP 2.15).
        self._refusals: list[tuple[Leg, Admission]] = []
        adm = self.config.admission
        self._rate = SourceRateLimit(adm.invite_rate_per_s, adm.invite_burst)
        self._sessions = Sessions()  # open sessions: their legs and call clock
        self._serial = iter(range(1, 1 << 62))
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._error: str | None = None
        self._trusted_extra: tuple[str, ...] = ()
        self._relay: RtpRelay | None = None  # the RTP gate's relay, while the device runs
        self.busy: Callable[[], str | None] | None = None  # a reason to refuse new calls (503)
        self.report_origins = False  # publish each session's ClockOrigin (a pool's device)
        self.registration: RegistrationChanged | None = None  # the last one; None: not yet

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
        return self._outbox.get(timeout_s)

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
        if not self._outbox.offer(frame):
            self.stats.dropped_frames = self._outbox.dropped

    def _publish(self, event: DeviceEvent) -> None:
        if isinstance(event, RegistrationChanged):
            self.registration = event  # the state, for readers that do not drain the outbox
        self._outbox.put(event)

    # -- the device thread -----------------------------------------------------
    def _create_endpoint(self) -> pj.Endpoint:
        cfg = self.config
        self._log_writer = PjLog(self._call_limit_refused)
        ep, self.address = create_endpoint(cfg, self._log_writer)
        self._ep = ep
        acc_cfg, self._trusted_extra = account_config(cfg)
        self._account = DeviceAccount(self._incoming, self._publish, reregister_for(cfg))
        self._account.rtp_relay = self._relay = relay_for(cfg)
        self._account.create(acc_cfg)
        log.info("device listening on %s (codecs %s, srtp %s, max %d calls)", self.address,
                 ",".join(cfg.media.codecs), cfg.media.srtp, cfg.admission.max_calls)  # fmt: skip
        return ep

    def _call_limit_refused(self, reason: str) -> None:
        log.warning("INVITE rejected 486: %s", reason)
        self.stats.rejected += 1
        self._publish(LegRejected("", 486, reason))

    def _run(self) -> None:
        try:
            ep = self._create_endpoint()
        except pj.Error as err:
            self._error = f"pjsua2 failed to start: {pj_error(err)}"
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
                self._answer_refusals()
                self._hang_up_unacked(time.monotonic())
                self._account.tick(time.monotonic())
                self._reap_finished()
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

    def _incoming(self, account: DeviceAccount, prm: pj.OnIncomingCallParam) -> None:
        t0 = time.perf_counter()
        invite = str(prm.rdata.wholeMsg)  # one copy out of SWIG
        source = source_of(invite, str(prm.rdata.srcAddress), self.config.admission.front_source)
        log.debug("INVITE from %s: %r", source, invite)  # repr: no raw control bytes
        busy = self.busy() if self.busy is not None else None  # calls in progress go on
        if not self._rate.allow(source, time.monotonic()) or busy is not None:
            decision = Admission(503, busy or f"INVITE rate limit for {source}")
        else:
            decision = admit(invite, source, len(self._legs), self.config.admission, self.roles,
                             self._trusted_extra)  # fmt: skip
        key = f"{prm.callId}.{next(self._serial)}"
        leg = Leg(account, prm.callId, key, self._leg_ended, self._tap_streams)
        leg.source = source
        leg.on_digit = self._publish  # RFC 4733 key presses
        if not decision.accepted:
            self._refusals.append((leg, decision))  # answered once this loop turn is over
            return
        assert decision.identity is not None
        leg.admission = decision
        self._legs[prm.callId] = leg
        session = decision.identity.session_id
        entry = self._sessions.open_leg(session, leg.key)
        if entry.clock is None:
            entry.clock = SessionClock(self.config.media.tap_rate_hz)
            if self.report_origins:
                entry.clock.on_origin = lambda ns: self._publish(ClockOrigin(session, ns))
        n = max(s.media_index for s in decision.streams) + 1  # m= lines up to the last audio
        op = pj.CallOpParam()
        op.statusCode = 200
        op.opt.audioCount = len(decision.streams)  # other media (video...) get port 0
        op.opt.videoCount = 0
        op.opt.mediaDir = pj.IntVector([pj.PJMEDIA_DIR_DECODING] * n)  # recvonly: never talk
        leg.answer(op)
        leg.answered_at = time.monotonic()
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

    def _answer_refusals(self) -> None:
        """Answer the INVITEs refused in the last loop turn (outside any PJSIP callback)."""
        refusals, self._refusals = self._refusals, []
        for leg, decision in refusals:
            self.stats.rejected += 1
            log.warning("INVITE from %s rejected %d: %s", leg.source, decision.status,
                        clean_label(decision.reason, None))  # fmt: skip
            leg.refuse(decision.status, decision.reason, self._rate.retry_after_s())
            self._finished.append(leg)
            self._publish(LegRejected(leg.source, decision.status, decision.reason))

    def _hang_up_unacked(self, now_s: float) -> None:
        """A 200 never ACKed is hung up after ``ack_timeout_s``: the call ends and leaves
        the call limit (PJSUA keeps its own slot until the INVITE transaction times out)."""
        timeout_s = self.config.admission.ack_timeout_s
        for leg in list(self._legs.values()):
            if leg.confirmed or leg.ended or leg.answered_at is None:
                continue
            if now_s - leg.answered_at >= timeout_s:
                leg.answered_at = None  # once
                log.warning("leg %s: no ACK %.1f s after 200, hanging up", leg.key, timeout_s)
                try:
                    leg.hangup(pj.CallOpParam())
                except pj.Error as err:
                    log.warning("leg %s: hangup failed: %s", leg.key, pj_error(err))

    def _reap_finished(self) -> None:
        """Free disconnected legs whose call slot no live call has taken over."""
        if self._finished:
            self._finished = [leg for leg in self._finished if leg.isActive()]

    def _tap_streams(self, leg: Leg) -> None:
        if leg.admission is None or leg.ended:
            return
        session = leg.admission.identity.session_id  # type: ignore[union-attr]
        clock = self._sessions.clock(session)
        info = leg.getInfo()  # keep it: .media dangles once a temporary CallInfo is freed
        tapped = False
        for media in info.media:
            log.debug("leg %s media %d type %d status %d dir %d", leg.key, media.index, media.type,
                      media.status, media.dir)  # fmt: skip
            if (
                media.type != pj.PJMEDIA_TYPE_AUDIO
                or media.status not in _TAPPABLE
                or media.index in leg.taps
            ):
                continue
            stream = leg.stream_label(media.index)
            label = stream.label
            rate = leg.tap_rate(media.index, self.config.media.tap_rate_hz)
            tap = Tap(session, label, rate, StreamClock(clock, rate), self._offer, stream.kind)
            leg.audio_media(self._ep, media).startTransmit(tap)
            leg.taps[media.index] = tap
            log.info("call %s: tapping party %s (stream %d, %d Hz)", session, label, media.index,
                     rate)  # fmt: skip
            tapped = True
        if tapped:  # a first snapshot: the codec is known from the start, even on short calls
            for stats in leg.stream_stats(session, self.stats.dropped_frames):
                self._publish(stats)

    def _leg_ended(self, leg: Leg, reason: str) -> None:
        if leg.ended:
            return
        leg.ended = True
        leg.close_keys()
        for tap in leg.taps.values():  # no more frames from this leg after this point
            tap.destroy()
        self._legs.pop(leg.getId(), None)
        self._finished.append(leg)
        if leg.admission is None:
            return
        session = leg.admission.identity.session_id  # type: ignore[union-attr]
        labels = tuple(tap.label for tap in leg.taps.values())
        self._sessions.close_leg(session, leg.key)
        log.info("call %s: leg %s ended (%s)", session, leg.key, reason)
        self._publish(LegEnded(leg.key, session, labels, reason))

    def publish_stats(self) -> list[StreamStats]:
        """Read PJMEDIA's per-stream RTP and jitter-buffer counters (device thread)."""
        out = []
        for leg in list(self._legs.values()):
            session = leg.admission.identity.session_id  # type: ignore[union-attr]
            for stats in leg.stream_stats(session, self.stats.dropped_frames):
                log.info("call %s party %s: %s rx %d lost %d discard %d reorder %d jitter "
                         "%.1f ms, jb delay %d ms lost %d discard %d empty %d",
                         session, stats.party, stats.codec, stats.rx_packets, stats.lost,
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
            log.warning("hangup at shutdown failed: %s", pj_error(err))
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
            guard_collector(None)
            try:
                ep.libDestroy()
            except pj.Error as err:
                log.warning("pjsua2 shutdown: %s", pj_error(err))
        self._ep = None
        relay, self._relay = self._relay, None
        if relay is not None:
            relay.stop()

    def rtp_streams(self) -> list[RelayStream]:
        """The RTP gate's open streams: public port, locked source, drop counters."""
        relay = self._relay
        return relay.streams() if relay is not None else []
