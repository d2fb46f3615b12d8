"""A hostile SIP peer: hand-built INVITEs over UDP, for tests and benchmarks (loopback only).

Each :class:`RawInvite` owns one socket and dialog; :meth:`RawInvite.final`
waits for the final response, :meth:`RawInvite.ack` / :meth:`RawInvite.bye`
finish what was answered.  The bytes are exactly what the case says (bad
Content-Length, no body, huge headers ...), never tidied.
"""

from __future__ import annotations

import re
import secrets
import socket
import time

from softphone.message import SipMessage, parse_message

from . import sip


def sdp(kinds: list[str] | None = None, parties: list[str | None] | None = None) -> str:
    """An offer with one m= line per kind (audio: PCMU sendonly, titled by its party)."""
    kinds = kinds or ["audio"]
    parties = parties or [f"p{n}" for n in range(len(kinds))]
    lines = ["v=0", "o=hostile 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0"]
    for n, kind in enumerate(kinds):
        port = 30000 + 2 * n
        if kind == "audio":
            lines.append(f"m=audio {port} RTP/AVP 0")
            if parties[n]:
                lines.append(f"i=party-id={parties[n]}")
            lines += ["a=rtpmap:0 PCMU/8000", "a=sendonly"]
        else:
            lines += [f"m={kind} {port} RTP/AVP 96", "a=rtpmap:96 H264/90000", "a=sendonly"]
    return "\r\n".join(lines) + "\r\n"


class RawInvite:
    def __init__(self, dest: tuple[str, int], source_ip: str = "127.0.0.1") -> None:
        self.dest = dest
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((source_ip, 0))
        local = f"{source_ip}:{self.sock.getsockname()[1]}"
        self.dialog = sip.Dialog(f"sip:listenin@{dest[0]}:{dest[1]}", local)
        self.final_msg: SipMessage | None = None

    def send(
        self,
        body: str = "",
        headers: list[str] | None = None,
        content_type: str | None = "application/sdp",
        content_length: int | None = None,
    ) -> RawInvite:
        d = self.dialog
        d.new_branch()
        head = [
            f"INVITE {d.target} SIP/2.0",
            f"Via: SIP/2.0/UDP {d.local};branch={d.branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:hostile@{d.local}>;tag={d.from_tag}",
            f"To: <{d.target}>",
            f"Call-ID: {d.call_id}",
            "CSeq: 1 INVITE",
            f"Contact: <sip:hostile@{d.local}>",
            *(headers or []),
        ]
        if content_type:
            head.append(f"Content-Type: {content_type}")
        length = len(body.encode()) if content_length is None else content_length
        head.append(f"Content-Length: {length}")
        self.raw(("\r\n".join(head) + "\r\n\r\n" + body).encode())
        return self

    def raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.dest)

    def final(self, timeout_s: float = 3.0) -> int | None:
        """Status of the first final response, or None if none came."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data, _ = self.sock.recvfrom(65536)
            except TimeoutError:
                break
            try:
                msg = parse_message(data)
            except ValueError:
                continue
            code = sip.status_of(msg)
            if code >= 200:
                self.final_msg = msg
                if code < 300:
                    sip.learn_dialog(self.dialog, msg)
                return code
        return None

    def answer_ports(self) -> list[tuple[str, int]]:
        assert self.final_msg is not None
        return sip.answer_ports(self.final_msg.body)

    def ack(self) -> None:
        assert self.final_msg is not None
        self.raw(sip.ack(self.dialog, self.final_msg))

    def bye(self) -> None:
        self.raw(sip.bye(self.dialog))

    def close(self) -> None:
        self.sock.close()


def reason_of(invite: RawInvite) -> str:
    start = invite.final_msg.start_line if invite.final_msg is not None else ""
    return re.sub(r"^SIP/2\.0 \d{3} ?", "", start)


def call_id() -> str:
    return secrets.token_hex(6)
