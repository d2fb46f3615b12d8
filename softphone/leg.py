"""One INVITE dialog of the device: a pjsua2 ``Call`` with its admission and taps.

A :class:`Leg` is answered (or refused) by the device, which keeps it alive
until PJSIP reports it disconnected.  Its callbacks run on the device thread:
a state change to DISCONNECTED calls ``on_ended``, a media change calls
``on_media`` (the device taps the streams then).  Neither raises into PJSIP.
With the account's RTP relay, the leg owns its relayed streams: it opens one
when PJSIP writes an SDP answer (advertising the relay's port), narrows its
payload types once negotiated and closes them when the dialog ends.
Key presses sent as RTP telephone-events (RFC 4733) go to ``on_digit`` as
:class:`~records.device.DigitSignalled`, on the call clock of the leg's first
tapped stream (PJSUA does not say which stream of a multi-stream leg carried
them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pjsua2 as pj

from records.device import DigitSignalled, StreamLabel, StreamStats
from records.labels import clean_label

from .admission import Admission
from .advertise import accepted_payload_types, advertise, local_media, offered_source
from .keys import SignalledKeys
from .rtprelay import RtpRelay
from .tap import Tap

log = logging.getLogger(__name__)


class Leg(pj.Call):  # type: ignore[misc]
    def __init__(
        self,
        account: pj.Account,
        call_id: int,
        key: str,
        on_ended: Callable[[Leg, str], None],
        on_media: Callable[[Leg], None],
    ) -> None:
        super().__init__(account, call_id)
        self.key = key  # unique within the device: pjsua call id + serial
        self.on_ended = on_ended
        self.on_media = on_media
        self.admission: Admission | None = None
        self.taps: dict[int, Tap] = {}
        self.source = ""  # "ip:port" the INVITE came from
        self.answered_at: float | None = None  # monotonic s of our 200, until ACKed
        self.confirmed = False  # the 200 was ACKed
        self.ended = False
        self.relay: RtpRelay | None = getattr(account, "rtp_relay", None)
        self.relayed: dict[int, tuple[int, int, int]] = {}  # media index -> handle, port, target
        self.on_digit: Callable[[DigitSignalled], None] | None = None  # RFC 4733 presses
        self.keys: SignalledKeys | None = None

    def onCallSdpCreated(self, prm: pj.OnCallSdpCreatedParam) -> None:  # noqa: N802
        """Advertise the relay's public ports instead of PJMEDIA's loopback ones.

        PJSUA also calls this for a new INVITE before the device has wrapped it, through
        an ended leg whose call slot the INVITE took: only an answered, live leg acts."""
        if self.relay is None or self.ended or self.admission is None:
            return
        try:
            prm.sdp.wholeSdp = self._relay_sdp(str(prm.sdp.wholeSdp), str(prm.remSdp.wholeSdp))
        except Exception:
            log.exception("leg %s: RTP relay setup failed; the stream keeps PJMEDIA's port",
                          self.key)  # fmt: skip

    def _relay_sdp(self, local: str, remote: str) -> str:
        assert self.relay is not None
        ports: dict[int, tuple[int, int]] = {}
        for media in local_media(local):
            pts = accepted_payload_types(local, remote if remote else local, media.index)
            if not pts:
                continue  # nothing in common: PJSIP refuses the stream
            known = self.relayed.get(media.index)
            if known is not None and known[2] == media.rtp_port:  # re-INVITE, same socket
                self.relay.narrow(known[0], pts)
                ports[media.index] = (known[1], known[1] + 1)
                continue
            if known is not None:
                self.relay.close(known[0])
            label = self._label(media.index)
            handle, port = self.relay.open(self.key, media.index, label, media.rtp_port,
                                           media.rtcp_port, pts,
                                           offered_source(remote, media.index))  # fmt: skip
            self.relayed[media.index] = (handle, port, media.rtp_port)
            ports[media.index] = (port, port + 1)
        return advertise(local, self.relay.host, ports)

    def refuse(self, status: int, reason: str, retry_after_s: int) -> None:
        """Answer the INVITE with ``status`` (503 with a ``Retry-After``); never raises."""
        op = pj.CallOpParam()
        op.statusCode = status
        op.reason = clean_label(reason, 100)
        if status == 503:
            header = pj.SipHeader()
            header.hName, header.hValue = "Retry-After", str(retry_after_s)
            op.txOption.headers.append(header)
        try:
            self.answer(op)
        except pj.Error as err:  # the remote gave up (CANCEL) before the answer
            log.info("refusal of leg %s not sent: %s", self.key, err.info())

    def audio_media(self, ep: pj.Endpoint, media: pj.CallMediaInfo) -> pj.AudioMedia:
        """The stream's conference port, found by its bridge slot: pjsua2's
        ``getAudioMedia`` refuses an audio stream that follows a refused video one."""
        for port in ep.mediaEnumPorts2():
            if port.getPortId() == media.audioConfSlot:
                return port
        return self.getAudioMedia(media.index)

    def tap_rate(self, media_index: int, bridge_hz: int) -> int:
        """The stream's codec rate (the bridge resamples to it), so a G.711 party reaches
        the pipeline at 8 kHz, as its recording would in replay; else the bridge's."""
        try:
            codec_hz = int(self.getStreamInfo(media_index).codecClockRate)
        except pj.Error:
            return bridge_hz
        return codec_hz if codec_hz in (8000, 16000) and codec_hz <= bridge_hz else bridge_hz

    def stream_label(self, media_index: int) -> StreamLabel:
        """The admitted label of a stream (a stream admission did not name: ``stream-N``)."""
        for s in self.admission.streams if self.admission else ():
            if s.media_index == media_index:
                return s
        return StreamLabel(media_index, None, f"stream-{media_index}")

    def _label(self, media_index: int) -> str:
        return self.stream_label(media_index).label

    def stream_stats(self, session: str, dropped_frames: int) -> list[StreamStats]:
        """PJMEDIA's RTP and jitter-buffer counters of each tapped stream."""
        out = []
        for index, tap in self.taps.items():
            try:
                st = self.getStreamStat(index)
                codec = self.getStreamInfo(index).codecName
            except pj.Error:
                continue
            rx, jbuf = st.rtcp.rxStat, st.jbuf
            out.append(StreamStats(
                session, tap.label, str(codec), int(rx.pkt), int(rx.loss), int(rx.discard),
                int(rx.reorder), int(rx.dup), rx.jitterUsec.mean / 1000.0,
                int(jbuf.avgDelayMsec), int(jbuf.lost), int(jbuf.discard), int(jbuf.empty),
                dropped_frames,
            ))  # fmt: skip
        return out

    def _narrow_relay(self) -> None:
        """Once negotiated, a relayed stream accepts its codec and telephone-event only."""
        relay = self.relay
        if relay is None:
            return
        for index, (handle, _port, _target) in self.relayed.items():
            try:
                si = self.getStreamInfo(index)
            except pj.Error:
                continue
            pts = {int(si.rxPt)} | ({int(si.audRxEventPt)} if int(si.audRxEventPt) >= 0 else set())
            relay.narrow(handle, frozenset(pt for pt in pts if 0 <= pt <= 127))

    def close_relay(self) -> None:
        if self.relay is not None:
            for handle, _port, _target in self.relayed.values():
                self.relay.close(handle)
        self.relayed.clear()

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
        try:
            info = self.getInfo()
            if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
                self.confirmed = True
            if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                self.close_relay()
                self.on_ended(self, f"{info.lastStatusCode} {info.lastReason}")
        except Exception:
            log.exception("leg %s: call state callback failed", self.key)

    def onDtmfEvent(self, prm: pj.OnDtmfEventParam) -> None:  # noqa: N802
        """A telephone-event report (SIP INFO digits are not taken)."""
        try:
            if self.on_digit is None or self.ended or not self.taps:
                return
            if int(prm.method) != pj.PJSUA_DTMF_METHOD_RFC2833:
                return
            tap = self.taps[min(self.taps)]
            if self.keys is None:
                self.keys = SignalledKeys(tap.session_id, tap.label, tap.rate)
            position = tap.clock.position or 0
            for digit in self.keys.event(str(prm.digit), int(prm.timestamp), int(prm.duration),
                                         int(prm.flags), position):  # fmt: skip
                self.on_digit(digit)
        except Exception:
            log.exception("leg %s: DTMF event callback failed", self.key)

    def close_keys(self) -> None:
        """The leg ends: a press whose end packets never came is reported now."""
        if self.keys is not None and self.on_digit is not None:
            for digit in self.keys.close():
                self.on_digit(digit)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        try:
            self._narrow_relay()
            self.on_media(self)
        except Exception:
            log.exception("leg %s: media state callback failed", self.key)
