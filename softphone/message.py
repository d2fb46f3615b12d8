"""Split a received SIP request into start line, headers and body (RFC 3261 s7).

pjsua2 hands the device the whole INVITE as text (``rdata.wholeMsg``); the
identification and SDP parsers need its headers and body.  :func:`parse_message`
is a pure function: header names are matched case-insensitively, compact forms
(``i:``, ``f:``, ``c:`` ...) are expanded, folded lines are joined, and anything
malformed or oversized raises :class:`MessageError`.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_MESSAGE_BYTES = 65536
MAX_HEADERS = 200
COMPACT = {
    "i": "call-id", "f": "from", "t": "to", "c": "content-type", "l": "content-length",
    "m": "contact", "v": "via", "k": "supported", "s": "subject", "e": "content-encoding",
}  # fmt: skip


class MessageError(ValueError):
    """A SIP message that cannot be split into headers and body."""


@dataclass(frozen=True, slots=True)
class SipMessage:
    start_line: str
    headers: tuple[tuple[str, str], ...]  # (lower-case name, value) in arrival order
    body: str

    @property
    def method(self) -> str:
        return self.start_line.split(" ", 1)[0]

    def get(self, name: str) -> str | None:
        """First value of a header (``name`` in any case, long form)."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def as_dict(self) -> dict[str, str]:
        """First value per header name, for :func:`softphone.identify.identify`."""
        out: dict[str, str] = {}
        for key, value in self.headers:
            out.setdefault(key, value)
        return out


def parse_message(text: str | bytes) -> SipMessage:
    if isinstance(text, bytes):
        if len(text) > MAX_MESSAGE_BYTES:
            raise MessageError(f"message of {len(text)} bytes is over {MAX_MESSAGE_BYTES}")
        text = text.decode("utf-8", errors="replace")
    if len(text) > MAX_MESSAGE_BYTES:
        raise MessageError(f"message of {len(text)} chars is over {MAX_MESSAGE_BYTES}")
    head, sep, body = text.partition("\r\n\r\n")
    if not sep:
        head, sep, body = text.partition("\n\n")
    lines = head.replace("\r\n", "\n").split("\n")
    start = lines[0].strip()
    if not start or " " not in start:
        raise MessageError(f"bad start line {start[:60]!r}")
    headers: list[list[str]] = []
    for no, line in enumerate(lines[1:], 2):
        if not line:
            continue
        if line[0] in " \t":  # folded continuation of the previous header
            if not headers:
                raise MessageError(f"line {no}: continuation before any header")
            headers[-1][1] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        name = name.strip().lower()
        if not colon or not name or any(ch in name for ch in " \t"):
            raise MessageError(f"line {no}: not a 'Name: value' header: {line[:60]!r}")
        headers.append([COMPACT.get(name, name), value.strip()])
        if len(headers) > MAX_HEADERS:
            raise MessageError(f"more than {MAX_HEADERS} headers")
    return SipMessage(start, tuple((k, v) for k, v in headers), body)
