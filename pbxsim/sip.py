"""SIP requests the simulator sends, built as text: pure functions.

pjsua2 cannot put ``i=`` lines in an offer (PJMEDIA's SDP model drops them), so
the RingCentral two-stream form is sent by this small UAC of our own.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from softphone.message import SipMessage


@dataclass
class Dialog:
    target: str  # request URI of the INVITE
    local: str  # "ip:port" of our SIP socket
    call_id: str = field(default_factory=lambda: secrets.token_hex(8) + "@pbxsim")
    from_tag: str = field(default_factory=lambda: secrets.token_hex(4))
    cseq: int = 1
    branch: str = ""
    to_header: str = ""  # with the remote tag once answered
    remote_target: str = ""  # Contact of the 2xx
    route: tuple[str, ...] = ()  # from Record-Route, reversed

    def new_branch(self) -> str:
        self.branch = "z9hG4bK" + secrets.token_hex(6)
        return self.branch


def offer_sdp(ip: str, streams: list[tuple[int, str | None]], pt: int, codec: str) -> str:
    """One sendonly ``m=audio`` per (rtp port, party id), titled ``i=party-id=...``."""
    lines = ["v=0", f"o=pbxsim 1 1 IN IP4 {ip}", "s=listenin supervise", f"c=IN IP4 {ip}", "t=0 0"]
    for port, party in streams:
        lines.append(f"m=audio {port} RTP/AVP {pt}")
        if party:
            lines.append(f"i=party-id={party}")
        lines += [f"a=rtpmap:{pt} {codec}/8000", "a=ptime:20", "a=sendonly"]
    return "\r\n".join(lines) + "\r\n"


def _request(method: str, uri: str, d: Dialog, cseq: int, extra: list[str], body: str) -> bytes:
    head = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {d.local};branch={d.branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:pbxsim@{d.local}>;tag={d.from_tag}",
        f"To: {d.to_header or '<' + d.target + '>'}",
        f"Call-ID: {d.call_id}",
        f"CSeq: {cseq} {method}",
        *[f"Route: {r}" for r in d.route],
        *extra,
        f"Content-Length: {len(body.encode())}",
    ]
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode()


def invite(d: Dialog, headers: list[tuple[str, str]], sdp: str) -> bytes:
    d.new_branch()
    extra = [f"Contact: <sip:pbxsim@{d.local}>", "Content-Type: application/sdp",
             "User-Agent: listenin-pbxsim"] + [f"{k}: {v}" for k, v in headers]  # fmt: skip
    return _request("INVITE", d.target, d, d.cseq, extra, sdp)


def ack(d: Dialog, final: SipMessage) -> bytes:
    """ACK for the INVITE's final response (same branch for non-2xx, new for 2xx)."""
    code = status_of(final)
    if 200 <= code < 300:
        d.new_branch()
        return _request("ACK", d.remote_target or d.target, d, d.cseq, [], "")
    d.to_header = final.get("to") or d.to_header
    return _request("ACK", d.target, d, d.cseq, [], "")


def bye(d: Dialog) -> bytes:
    d.cseq += 1
    d.new_branch()
    return _request("BYE", d.remote_target or d.target, d, d.cseq, [], "")


def reply_ok(req: SipMessage) -> bytes:
    """200 OK to an in-dialog request from the device (its BYE on shutdown)."""
    keep = [f"{name.title()}: {value}" for name, value in req.headers
            if name in ("via", "from", "to", "call-id", "cseq")]  # fmt: skip
    return ("SIP/2.0 200 OK\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n").encode()


def status_of(msg: SipMessage) -> int:
    m = re.match(r"SIP/2\.0 (\d{3})", msg.start_line)
    return int(m.group(1)) if m else 0


def learn_dialog(d: Dialog, ok: SipMessage) -> None:
    """Take the remote tag, target and route set from a 2xx to the INVITE."""
    d.to_header = ok.get("to") or d.to_header
    contact = re.search(r"<([^>]+)>", ok.get("contact") or "")
    d.remote_target = contact.group(1) if contact else d.target
    rr = [v.strip() for name, value in ok.headers if name == "record-route"
          for v in value.split(",")]  # fmt: skip
    d.route = tuple(reversed(rr))


def uri_hostport(uri: str) -> tuple[str, int]:
    """``sip:user@host:port;params`` or ``<sip:host;lr>`` -> (host, port)."""
    m = re.search(r"sips?:(?:[^@>]+@)?([^:;>]+)(?::(\d+))?", uri)
    if not m:
        raise ValueError(f"cannot find a host in {uri!r}")
    return m.group(1), int(m.group(2) or 5060)


def answer_ports(sdp: str) -> list[tuple[str, int]]:
    """(ip, port) per ``m=audio`` of the answer; port 0 means refused."""
    conn = re.search(r"^c=IN IP4 (\S+)", sdp, re.M)
    session_ip = conn.group(1) if conn else "127.0.0.1"
    out = []
    for block in re.split(r"^(?=m=)", sdp, flags=re.M)[1:]:
        m = re.match(r"m=audio (\d+)", block)
        if not m:
            continue
        c = re.search(r"^c=IN IP4 (\S+)", block, re.M)
        out.append((c.group(1) if c else session_ip, int(m.group(1))))
    return out
