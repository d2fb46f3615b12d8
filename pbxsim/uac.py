"""The simulator's own small UAC: INVITE / ACK / BYE over UDP and paced G.711 RTP.

Used for the RingCentral forms (one INVITE carrying an ``m=audio`` per party
with ``i=party-id`` titles, or one INVITE per party).  One thread, one
``select`` loop: SIP retransmissions (RFC 3261 timer A), 20 ms RTP pacing on the
monotonic clock (late packets are sent at once, so the stream never drifts).
"""

from __future__ import annotations

import os
import random
import select
import socket
import time
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf

from softphone.message import MessageError, SipMessage, parse_message

from . import sip
from .g711 import ENCODERS
from .plan import SimLeg, leg_result
from .rtp import Packetizer

ADDRESS = os.environ.get("PBXSIM_ADDRESS", "127.0.0.1")  # where SIP and RTP are sent from
FRAME_S = 0.02
RATE = 8000
SAMPLES = 160


def load_pcm8k(path: str, start_s: float, seconds: float | None) -> np.ndarray:
    audio, rate = sf.read(path, dtype="int16")
    if audio.ndim != 1 or rate != RATE:
        raise ValueError(f"{path}: the raw UAC plays mono 8 kHz WAVs, got {rate} Hz")
    a = int(start_s * RATE)
    b = a + int(seconds * RATE) if seconds is not None else audio.size
    return audio[a:b]


@dataclass
class _Stream:
    sock: socket.socket
    pcm: np.ndarray
    packetizer: Packetizer
    dest: tuple[str, int] | None = None
    sent: int = 0


@dataclass
class _Leg:
    leg: SimLeg
    dialog: sip.Dialog
    streams: list[_Stream]
    invite: bytes = b""
    next_retx: float = 0.0
    retx_interval: float = 0.5
    t_invite: float = 0.0
    t_answer: float | None = None
    status: int = 0
    reason: str = ""
    state: str = "calling"  # calling, answered, ending, done
    bye: bytes = b""
    extra: dict = field(default_factory=dict)


class RawCaller:
    def __init__(self, target: str, codec: str = "PCMU", headers: tuple = ()) -> None:
        if codec not in ENCODERS:
            raise ValueError(f"the raw UAC speaks {sorted(ENCODERS)}, not {codec}")
        self.target = target
        self.pt, self.encode = ENCODERS[codec]
        self.codec = codec
        self.headers = headers
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ADDRESS, 0))
        self.local = f"{ADDRESS}:{self.sock.getsockname()[1]}"
        self.next_hop = sip.uri_hostport(target)
        self.media_t0: float | None = None  # time.monotonic() when RTP pacing began

    def run(
        self, legs: tuple[SimLeg, ...], start_s: float = 0.0, seconds: float | None = None
    ) -> list[dict]:
        calls = [self._leg(leg, start_s, seconds) for leg in legs]
        try:
            for c in calls:
                c.t_invite = c.next_retx = time.monotonic()
                self._send(c.invite, self.next_hop)
                c.next_retx += c.retx_interval
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline and any(c.state == "calling" for c in calls):
                self._poll(calls, 0.01)
            t0 = self.media_t0 = time.monotonic()
            length = max((s.pcm.size for c in calls for s in c.streams), default=0) / RATE
            while time.monotonic() < t0 + length + 0.2 and any(
                c.state == "answered" for c in calls
            ):
                self._pace(calls, t0)
                self._poll(calls, max(0.0, min(0.005, t0 + length - time.monotonic())))
            for c in calls:
                if c.state == "answered":
                    c.state, c.bye = "ending", sip.bye(c.dialog)
                    c.next_retx, c.retx_interval = time.monotonic(), 0.5
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline and any(c.state == "ending" for c in calls):
                self._poll(calls, 0.01)
            return [self._result(c) for c in calls]
        finally:
            for c in calls:
                for s in c.streams:
                    s.sock.close()
            self.sock.close()

    # -- building ----------------------------------------------------------------
    def _leg(self, leg: SimLeg, start_s: float, seconds: float | None) -> _Leg:
        streams = []
        for party in leg.parties:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((ADDRESS, 0))
            pk = Packetizer(self.pt, random.getrandbits(32), random.getrandbits(16),
                            random.getrandbits(32))  # fmt: skip
            streams.append(_Stream(s, load_pcm8k(str(party.wav), start_s, seconds), pk))
        titled = len(leg.parties) > 1
        sdp = sip.offer_sdp(
            ADDRESS,
            [(st.sock.getsockname()[1], p.party_id if titled else None)
             for st, p in zip(streams, leg.parties, strict=False)],
            self.pt,
            self.codec,
        )  # fmt: skip
        dialog = sip.Dialog(self.target, self.local)
        invite = sip.invite(dialog, list(leg.headers) + list(self.headers), sdp)
        return _Leg(leg, dialog, streams, invite)

    # -- I/O ---------------------------------------------------------------------
    def _send(self, data: bytes, dest: tuple[str, int]) -> None:
        self.sock.sendto(data, dest)

    def _dialog_hop(self, c: _Leg) -> tuple[str, int]:
        d = c.dialog
        return sip.uri_hostport(d.route[0] if d.route else d.remote_target or d.target)

    def _pace(self, calls: list[_Leg], t0: float) -> None:
        due = int((time.monotonic() - t0) / FRAME_S) + 1
        for c in calls:
            if c.state != "answered":
                continue
            for s in c.streams:
                while s.sent < due and s.dest is not None and s.sent * SAMPLES < s.pcm.size:
                    chunk = s.pcm[s.sent * SAMPLES : (s.sent + 1) * SAMPLES]
                    if chunk.size < SAMPLES:
                        chunk = np.pad(chunk, (0, SAMPLES - chunk.size))
                    s.sock.sendto(s.packetizer.packet(self.encode(chunk), SAMPLES, s.sent == 0),
                                  s.dest)  # fmt: skip
                    s.sent += 1

    def _poll(self, calls: list[_Leg], timeout: float) -> None:
        now = time.monotonic()
        for c in calls:  # timer A / BYE retransmission
            if c.state in ("calling", "ending") and now >= c.next_retx:
                if now - c.t_invite > 32 and c.state == "calling":
                    c.state, c.status, c.reason = "done", 408, "no answer"
                    continue
                if c.state == "calling":
                    self._send(c.invite, self.next_hop)
                else:
                    self._send(c.bye, self._dialog_hop(c))
                c.retx_interval = min(c.retx_interval * 2, 4.0)
                c.next_retx = now + c.retx_interval
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return
        data, addr = self.sock.recvfrom(65535)
        try:
            msg = parse_message(data)
        except MessageError:
            return
        leg = next((c for c in calls if c.dialog.call_id == msg.get("call-id")), None)
        if leg is None:
            return
        if msg.start_line.startswith("SIP/2.0"):
            self._response(leg, msg)
        else:
            self._send(sip.reply_ok(msg), addr)
            if msg.method == "BYE":
                leg.state, leg.reason = "done", "BYE from device"

    def _response(self, c: _Leg, msg: SipMessage) -> None:
        code = sip.status_of(msg)
        method = (msg.get("cseq") or " ").split()[-1]
        if method == "BYE" and code >= 200:
            c.state = "done"
            return
        if method != "INVITE" or code < 200:
            if c.state == "calling":
                c.next_retx = time.monotonic() + 4.0  # provisional: stop fast retransmits
            return
        if c.state == "calling":
            c.status, c.reason = code, msg.start_line.split(" ", 2)[-1]
            if code < 300:
                sip.learn_dialog(c.dialog, msg)
                c.t_answer = time.monotonic()
                for stream, (ip, port) in zip(c.streams, sip.answer_ports(msg.body), strict=False):
                    stream.dest = (ip, port) if port else None
                c.state = "answered"
            else:
                c.state = "done"
        if code < 300:
            self._send(sip.ack(c.dialog, msg), self._dialog_hop(c))
        else:
            self._send(sip.ack(c.dialog, msg), self.next_hop)

    def _result(self, c: _Leg) -> dict:
        result = leg_result(c.leg, c.t_invite, c.t_answer, c.status, c.reason)
        # packet k of every stream left at media_t0 + k * 20 ms (monotonic: any process here)
        return {**result, "packets": [s.sent for s in c.streams], "media_t0": self.media_t0}
