"""The simulator's SIP side: a pjsua2 endpoint that places the legs and plays RTP.

Runs in its own process (pjsua2 allows one endpoint, and four calls, per
process).  Prints one JSON line per leg when it ends and exits 0 when every leg
was answered, 3 otherwise.
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass, field

import pjsua2 as pj
import soundfile as sf

from softphone.endpoint import guard_collector, quiet_stderr

from .plan import SimLeg, leg_result, title_streams

log = logging.getLogger(__name__)

_PLAYING = (
    pj.PJSUA_CALL_MEDIA_ACTIVE,
    pj.PJSUA_CALL_MEDIA_LOCAL_HOLD,
    pj.PJSUA_CALL_MEDIA_REMOTE_HOLD,
)


@dataclass
class CallerOptions:
    target: str  # sip:listenin@127.0.0.1:5070
    codec: str = "PCMU"
    srtp: bool = False
    transport: str = "udp"  # udp | tcp | tls
    start_s: float = 0.0  # offset into the fixture
    seconds: float | None = None  # play at most this long
    local_port: int = 0
    log_level: int = 0
    headers: tuple[tuple[str, str], ...] = field(default=())  # added to every INVITE
    dtmf: str = ""  # keyed as RFC 4733 telephone-events on every leg, dtmf_at_s into the call
    dtmf_at_s: float = 1.0


class _SimCall(pj.Call):  # type: ignore[misc]
    def __init__(self, account: pj.Account, leg: SimLeg) -> None:
        super().__init__(account)
        self.leg = leg
        self.t_invite = 0.0
        self.t_answer: float | None = None
        self.status = 0
        self.reason = ""
        self.media_ready = False
        self.disconnected = False
        self.players: list[pj.AudioMediaPlayer] = []

    def onCallSdpCreated(self, prm: pj.OnCallSdpCreatedParam) -> None:  # noqa: N802
        log.debug("sdp created rem=%d local=%r", len(prm.remSdp.wholeSdp), prm.sdp.wholeSdp)
        if len(self.leg.parties) > 1 and not prm.remSdp.wholeSdp:  # our offer
            prm.sdp.wholeSdp = title_streams(
                prm.sdp.wholeSdp, tuple(p.party_id for p in self.leg.parties)
            )

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
        info = self.getInfo()
        if info.state in (pj.PJSIP_INV_STATE_CONNECTING, pj.PJSIP_INV_STATE_CONFIRMED):
            if self.t_answer is None:
                self.t_answer = time.perf_counter()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.status = int(info.lastStatusCode)
            self.reason = str(info.lastReason)
            self.disconnected = True

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        info = self.getInfo()  # keep it: .media dangles once a temporary CallInfo is freed
        media = [m for m in info.media if m.type == pj.PJMEDIA_TYPE_AUDIO]
        log.debug("sim media %s", [(m.index, m.status, m.dir) for m in media])
        self.media_ready = len(media) >= len(self.leg.parties) and all(
            m.status in _PLAYING for m in media
        )


def _endpoint(opts: CallerOptions) -> tuple[pj.Endpoint, pj.Account]:
    ep = pj.Endpoint()
    with quiet_stderr(opts.log_level == 0):
        ep.libCreate()
    ec = pj.EpConfig()
    ec.uaConfig.threadCnt = 0
    ec.uaConfig.mainThreadOnly = False
    ec.uaConfig.userAgent = "listenin-pbxsim"
    ec.logConfig.level = opts.log_level
    ec.logConfig.consoleLevel = opts.log_level
    ec.medConfig.noVad = True
    ep.libInit(ec)
    guard_collector(ep)
    kind = {"udp": pj.PJSIP_TRANSPORT_UDP, "tcp": pj.PJSIP_TRANSPORT_TCP,
            "tls": pj.PJSIP_TRANSPORT_TLS}[opts.transport]  # fmt: skip
    tc = pj.TransportConfig()
    tc.port = opts.local_port
    tc.boundAddress = "127.0.0.1"
    ep.transportCreate(kind, tc)
    ep.libStart()
    ep.audDevManager().setNullDev()
    for c in ep.codecEnum2():
        ep.codecSetPriority(c.codecId, 255 if c.codecId.upper().startswith(opts.codec) else 0)
    ac = pj.AccountConfig()
    ac.idUri = "sip:pbxsim@127.0.0.1"
    ac.regConfig.registerOnAdd = False
    ac.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    ac.mediaConfig.transportConfig.publicAddress = "127.0.0.1"
    if opts.srtp:
        ac.mediaConfig.srtpUse = pj.PJMEDIA_SRTP_MANDATORY
        ac.mediaConfig.srtpSecureSignaling = 0
    acc = pj.Account()
    acc.create(ac)
    return ep, acc


def _pump(ep: pj.Endpoint, until, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ep.libHandleEvents(10)
        if until():
            return True
    return False


def run(legs: tuple[SimLeg, ...], opts: CallerOptions, duration_s: float) -> list[dict]:
    """Place every leg at once, play its parties, hang up after the audio; one dict per leg."""
    ep, acc = _endpoint(opts)
    calls: list[_SimCall] = []
    play_s = duration_s - opts.start_s
    if opts.seconds is not None:
        play_s = min(play_s, opts.seconds)
    try:
        _place(acc, legs, opts, calls)
        _pump(ep, lambda: all(c.media_ready or c.disconnected for c in calls), 10.0)
        _play(calls, opts)
        if opts.dtmf:
            _pump(ep, lambda: False, opts.dtmf_at_s)
            _key(calls, opts.dtmf)
            play_s = max(play_s - opts.dtmf_at_s, 0.2 * len(opts.dtmf) + 0.5)
        _pump(ep, lambda: all(c.disconnected for c in calls), play_s + 0.5)
        _hangup(calls)
        _pump(ep, lambda: all(c.disconnected for c in calls), 5.0)
        return [_result(c) for c in calls]
    finally:
        _free(calls)  # a Call still alive after libDestroy aborts the process
        gc.collect()
        acc.shutdown()
        guard_collector(None)
        ep.libDestroy()


def _place(acc: pj.Account, legs: tuple[SimLeg, ...], opts: CallerOptions, calls: list) -> None:
    for leg in legs:
        call = _SimCall(acc, leg)
        op = pj.CallOpParam(True)
        op.opt.audioCount = len(leg.parties)
        op.opt.videoCount = 0
        op.opt.mediaDir = pj.IntVector([pj.PJMEDIA_DIR_ENCODING] * len(leg.parties))
        for name, value in leg.headers + opts.headers:
            h = pj.SipHeader()
            h.hName, h.hValue = name, value
            op.txOption.headers.append(h)
        call.t_invite = time.perf_counter()
        call.makeCall(opts.target, op)
        calls.append(call)


def _play(calls: list[_SimCall], opts: CallerOptions) -> None:
    """Start every party of every answered leg together: one call clock."""
    for call in calls:
        if call.disconnected or not call.media_ready:
            continue
        for index, party in enumerate(call.leg.parties):
            player = pj.AudioMediaPlayer()
            player.createPlayer(str(party.wav), pj.PJMEDIA_FILE_NO_LOOP)
            if opts.start_s:
                player.setPos(int(opts.start_s * sf.info(str(party.wav)).samplerate))
            player.startTransmit(call.getAudioMedia(index))
            call.players.append(player)


def _key(calls: list[_SimCall], digits: str) -> None:
    """Key ``digits`` on every live leg (a helper: no Call may stay referenced by run())."""
    for call in calls:
        if call.media_ready and not call.disconnected:
            call.dialDtmf(digits)  # RFC 2833/4733 telephone-events, 200 ms per digit


def _hangup(calls: list[_SimCall]) -> None:
    for call in calls:
        if not call.disconnected:
            call.hangup(pj.CallOpParam(True))


def _free(calls: list[_SimCall]) -> None:
    for call in calls:
        for player in call.players:
            pj.AudioMediaPlayer.__swig_destroy__(player)
        call.players.clear()
    calls.clear()


def _result(c: _SimCall) -> dict:
    return leg_result(c.leg, c.t_invite, c.t_answer, c.status, c.reason)
