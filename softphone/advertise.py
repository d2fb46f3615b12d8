"""What the device's SDP answer advertises when the RTP gate relays its media.

With the gate on, PJMEDIA's RTP sockets listen on the loopback only and the
relay's public sockets take the party's packets (:mod:`softphone.rtprelay`).
PJSIP writes its own loopback ports into the answer; :func:`local_media` reads
them, :func:`advertise` rewrites the answer to the relay's address and ports,
and :func:`accepted_payload_types` names the payload types a stream may carry
(the offer's types whose codec the answer lists too), :func:`offered_source`
where the party will send from.  Pure text functions.
"""

from __future__ import annotations

from dataclasses import dataclass

from .sdp import parse_sdp


@dataclass(frozen=True, slots=True)
class LocalMedia:
    index: int  # position among the m= lines (pjsua2's media index)
    rtp_port: int
    rtcp_port: int  # a=rtcp, or rtp_port + 1


def _lines(sdp: str) -> list[str]:
    return [ln for ln in sdp.replace("\r\n", "\n").split("\n") if ln]


def local_media(sdp: str) -> tuple[LocalMedia, ...]:
    """The audio streams PJSIP's answer offers to receive (port 0: refused, skipped)."""
    out: list[LocalMedia] = []
    index = -1
    current: list[int] | None = None  # [index, rtp, rtcp] of the audio m= line being read
    for line in _lines(sdp):
        if line.startswith("m="):
            if current:
                out.append(LocalMedia(*current))
            index += 1
            parts = line[2:].split()
            port = int(parts[1].split("/")[0]) if len(parts) > 1 else 0
            current = [index, port, port + 1] if parts[0] == "audio" and port else None
        elif line.startswith("a=rtcp:") and current:
            current[2] = int(line[7:].split()[0])
    if current:
        out.append(LocalMedia(*current))
    return tuple(out)


def advertise(sdp: str, host: str, ports: dict[int, tuple[int, int]]) -> str:
    """``sdp`` with every ``c=`` on ``host`` and media ``index`` on ``ports[index]``
    (RTP, RTCP); streams not in ``ports`` keep their port."""
    out: list[str] = []
    index = -1
    for line in _lines(sdp):
        if line.startswith("m="):
            index += 1
            if index in ports:
                kind, _port, rest = line[2:].split(" ", 2)
                line = f"m={kind} {ports[index][0]} {rest}"
        elif line.startswith("c=IN IP4 "):
            line = f"c=IN IP4 {host}"
        elif line.startswith("a=rtcp:") and index in ports:
            line = f"a=rtcp:{ports[index][1]} IN IP4 {host}"
        out.append(line)
    return "\r\n".join(out) + "\r\n"


def accepted_payload_types(local_sdp: str, remote_sdp: str, index: int) -> frozenset[int]:
    """Payload types of the offer's stream ``index`` whose codec the answer's stream
    lists too (telephone-event included); empty when either side has no such stream."""
    local = {s.index: s for s in parse_sdp(local_sdp).audio}.get(index)
    remote = {s.index: s for s in parse_sdp(remote_sdp).audio}.get(index)
    if local is None or remote is None:
        return frozenset()
    names = {(c.name, c.clock_rate) for c in local.codecs}
    return frozenset(c.payload_type for c in remote.codecs if (c.name, c.clock_rate) in names)


def offered_source(remote_sdp: str, index: int) -> tuple[str, int] | None:
    """(host, port) the offer's stream ``index`` receives on: where a symmetric-RTP party
    sends from.  None without one (no such stream, port 0, no or a null address)."""
    if not remote_sdp:
        return None
    stream = {s.index: s for s in parse_sdp(remote_sdp).audio}.get(index)
    if stream is None or not stream.port or stream.connection in (None, "0.0.0.0"):
        return None
    return (str(stream.connection), stream.port)
