"""Parse the audio streams of an SDP offer (RFC 4566), as a supervisor sees them.

A RingCentral supervise INVITE can carry two ``m=audio`` lines, one per party,
each with an ``i=`` (media title) line naming its ``party-id``.  :func:`parse_sdp`
returns one :class:`AudioStream` per ``m=audio`` line with its payload formats,
codec names, direction, SDES crypto offer and party id.  Malformed input raises
:class:`SdpError` with the line number; nothing is guessed.  Control characters
(an ESC in an ``i=`` line, say) are replaced before anything is parsed, and the
title and party id are cut short, so that every string returned is safe to log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from records.labels import clean_label

MAX_SDP_BYTES = 16384
MAX_TITLE_CHARS = 256
STATIC_CODECS = {0: ("PCMU", 8000), 8: ("PCMA", 8000), 9: ("G722", 8000), 18: ("G729", 8000)}
_PARTY_RE = re.compile(r"party-?id\s*[=:]\s*([^\s;,]+)", re.IGNORECASE)


class SdpError(ValueError):
    """An SDP body that cannot be parsed."""


@dataclass(frozen=True, slots=True)
class Codec:
    payload_type: int
    name: str  # upper case, e.g. PCMU
    clock_rate: int  # Hz of the RTP clock (G.722 says 8000 but samples at 16000)

    @property
    def sample_rate(self) -> int:
        return 16000 if self.name == "G722" else self.clock_rate


@dataclass(frozen=True, slots=True)
class AudioStream:
    index: int  # position among the m= lines (0-based, all media kinds)
    port: int
    protocol: str  # RTP/AVP, RTP/SAVP, ...
    codecs: tuple[Codec, ...]
    direction: str = "sendrecv"
    title: str | None = None  # the i= line
    party_id: str | None = None  # from the i= line, e.g. "party-id=p-123"
    crypto: tuple[str, ...] = ()  # a=crypto suites offered
    connection: str | None = None  # c= address for this stream

    @property
    def secure(self) -> bool:
        return "SAVP" in self.protocol


@dataclass(frozen=True, slots=True)
class SessionDescription:
    origin: str
    connection: str | None
    audio: tuple[AudioStream, ...] = field(default_factory=tuple)
    media_kinds: tuple[str, ...] = ()  # every m= line's media, in order ("audio", "video", ...)


def parse_sdp(body: str | bytes) -> SessionDescription:
    if isinstance(body, bytes):
        if len(body) > MAX_SDP_BYTES:
            raise SdpError(f"SDP of {len(body)} bytes is over the {MAX_SDP_BYTES} byte limit")
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as err:
            raise SdpError("SDP is not UTF-8") from err
    elif len(body) > MAX_SDP_BYTES:
        raise SdpError(f"SDP of {len(body)} chars is over the {MAX_SDP_BYTES} byte limit")
    raw = (ln.strip().replace("\t", " ") for ln in body.replace("\r\n", "\n").split("\n"))
    lines = [clean_label(ln, None) for ln in raw if ln]
    if not lines or not lines[0].startswith("v="):
        raise SdpError("SDP must start with a v= line")
    origin = ""
    session_conn: str | None = None
    media: list[dict] = []
    for no, line in enumerate(lines, 1):
        if len(line) < 2 or line[1] != "=" or not line[0].isalpha():
            raise SdpError(f"line {no}: not a 'x=value' line: {line[:40]!r}")
        kind, value = line[0], line[2:].strip()
        if kind == "o":
            origin = value
        elif kind == "c":
            addr = value.split()
            if len(addr) != 3:
                raise SdpError(f"line {no}: bad c= line {value!r}")
            if media:
                media[-1]["connection"] = addr[2]
            else:
                session_conn = addr[2]
        elif kind == "m":
            parts = value.split()
            if len(parts) < 4:
                raise SdpError(f"line {no}: bad m= line {value!r}")
            try:
                port = int(parts[1].split("/")[0])
                fmts = [int(p) for p in parts[3:]] if parts[0] == "audio" else []
            except ValueError as err:
                raise SdpError(f"line {no}: bad port or payload type in {value!r}") from err
            if not 0 <= port <= 65535 or any(not 0 <= f <= 127 for f in fmts):
                raise SdpError(f"line {no}: port or payload type out of range in {value!r}")
            media.append(
                {"index": len(media), "kind": parts[0], "port": port, "proto": parts[2],
                 "fmts": fmts, "rtpmap": {}, "dir": "sendrecv", "title": None,
                 "crypto": [], "connection": None}
            )  # fmt: skip
        elif media:
            m = media[-1]
            if kind == "i":
                m["title"] = value
            elif kind == "a":
                _attribute(m, value, no)
    audio = []
    for m in media:
        if m["kind"] != "audio":
            continue
        codecs = []
        for pt in m["fmts"]:
            if pt in m["rtpmap"]:
                name, rate = m["rtpmap"][pt]
            elif pt in STATIC_CODECS:
                name, rate = STATIC_CODECS[pt]
            else:
                continue  # dynamic type without rtpmap: unusable, skipped
            codecs.append(Codec(pt, name, rate))
        party = _PARTY_RE.search(m["title"] or "")
        audio.append(
            AudioStream(
                m["index"],
                m["port"],
                m["proto"],
                tuple(codecs),
                m["dir"],
                clean_label(m["title"], MAX_TITLE_CHARS) if m["title"] is not None else None,
                clean_label(party.group(1)) if party else None,
                tuple(m["crypto"]),
                m["connection"] or session_conn,
            )  # fmt: skip
        )
    kinds = tuple(m["kind"] for m in media)
    return SessionDescription(origin, session_conn, tuple(audio), kinds)


def _attribute(m: dict, value: str, no: int) -> None:
    name, _, rest = value.partition(":")
    if name in ("sendrecv", "sendonly", "recvonly", "inactive"):
        m["dir"] = name
    elif name == "rtpmap":
        try:
            pt_s, enc = rest.split(None, 1)
            codec, rate_s = enc.split("/")[:2]
            m["rtpmap"][int(pt_s)] = (codec.upper(), int(rate_s))
        except ValueError as err:
            raise SdpError(f"line {no}: bad rtpmap {rest!r}") from err
    elif name == "crypto":
        parts = rest.split()
        if len(parts) < 3:
            raise SdpError(f"line {no}: bad crypto attribute {rest!r}")
        m["crypto"].append(parts[1])
