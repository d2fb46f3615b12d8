"""Decide what to do with an incoming INVITE, and which stream is which party.

Pure: the device passes the INVITE text, its source address and how many calls
are open; :func:`admit` returns an :class:`Admission` with the SIP status to
answer with and, when accepted, the identity and one :class:`StreamLabel` per
audio stream.  Only supervise calls are answered: an untrusted source (403), an
INVITE PJSIP had to cut (513), an unidentified call when identification is
required (403), a malformed request or a Content-Length that is not the body's
(400), a device at its call limit (486), an INVITE without an SDP offer, with
no audio or too many streams (488) or another body type (415), two streams of
one party (400) are refused with a reason to log.  Behind a SIP front every
INVITE comes from the front's address: :func:`source_of` then reads the real
source from the front's :data:`SOURCE_HEADER`.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from records.device import StreamLabel
from records.kinds import MIXED_LABEL, StreamKind

from .addresses import is_trusted
from .config import AdmissionConfig
from .identify import IdentificationError, Identity, Unidentified, identify
from .message import MessageError, SipMessage, parse_message
from .sdp import SdpError, SessionDescription, parse_sdp

PJSIP_MAX_PKT_BYTES = 4000  # PJSIP_MAX_PKT_LEN compiled into the wheel: longer INVITEs are cut
MAX_SDP_MEDIA = 8  # m= lines of any kind; PJMEDIA crashes on ~20 audio ones (measured)
SOURCE_HEADER = "X-Listenin-Source"  # the SIP front's "ip:port" of the peer it forwards
_SOURCE_RE = re.compile(rb"^" + SOURCE_HEADER.encode() + rb"[ \t]*:[ \t]*([^\r\n]*)", re.I | re.M)


@dataclass(frozen=True, slots=True)
class Admission:
    status: int  # 200 to answer, else the rejection code
    reason: str
    identity: Identity | None = None
    streams: tuple[StreamLabel, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.status == 200


class PartyRoles:
    """``(session_id, party_id) -> role`` told by a platform adapter or the simulator.

    Bounded; when full the oldest entry is evicted (policy ``evict_oldest``).
    """

    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = capacity
        self._roles: OrderedDict[tuple[str, str], str] = OrderedDict()
        self.on_set: Callable[[str, str, str], None] | None = None  # a pool passes roles on

    def set(self, session_id: str, party_id: str, role: str) -> None:
        if self.on_set is not None:
            self.on_set(session_id, party_id, role)
        self._roles[(session_id, party_id)] = role
        self._roles.move_to_end((session_id, party_id))
        while len(self._roles) > self.capacity:
            self._roles.popitem(last=False)

    def get(self, session_id: str, party_id: str | None) -> str | None:
        return self._roles.get((session_id, party_id)) if party_id else None

    def items(self) -> dict[tuple[str, str], str]:
        return dict(self._roles)


def source_of(invite: str | bytes, received_from: str, front: str | None) -> str:
    """The peer an INVITE is from: where it came from, or, when it came from the SIP front,
    the last :data:`SOURCE_HEADER` of its header (the front removes what the peer sent and
    appends its own); "" when the front's INVITE has none (trusted by nobody)."""
    if front is None or received_from != front:
        return received_from
    data = invite.encode("utf-8", "surrogateescape") if isinstance(invite, str) else invite
    head = data.split(b"\r\n\r\n", 1)[0]
    found = _SOURCE_RE.findall(head)
    return found[-1].decode("ascii", "replace").strip() if found else ""


def admit(
    invite: str | bytes,
    source: str,
    calls_open: int,
    config: AdmissionConfig,
    roles: PartyRoles | None = None,
    extra_trusted: tuple[str, ...] = (),
) -> Admission:
    if not is_trusted(source, config.trusted + extra_trusted):
        return Admission(403, f"untrusted source {source}")
    size = len(invite.encode() if isinstance(invite, str) else invite)
    if size >= PJSIP_MAX_PKT_BYTES:  # PJSIP read no more than this: the rest is lost
        return Admission(
            513, f"INVITE of {size}+ bytes is over the {PJSIP_MAX_PKT_BYTES}-byte limit"
        )
    try:
        msg = parse_message(invite)
        check_framing(msg)
        identity = identify(msg.as_dict(), config.headers, config.require_identification)
    except Unidentified as err:
        return Admission(403, str(err))
    except (MessageError, IdentificationError) as err:
        return Admission(400, str(err))
    if calls_open >= config.max_calls:
        return Admission(486, f"device at its {config.max_calls}-call limit")
    if not msg.body.strip():
        return Admission(488, "no SDP offer in the INVITE (late offers are not supported)")
    ctype = (msg.get("content-type") or "").split(";", 1)[0].strip().lower()
    if ctype != "application/sdp":
        return Admission(415, f"body is {ctype or 'untyped'}, not application/sdp")
    try:
        sdp = parse_sdp(msg.body)
    except SdpError as err:
        return Admission(400, f"bad SDP: {err}")
    refusal = check_media(sdp, config.max_streams)
    if refusal is not None:
        return refusal
    return Admission(200, "OK", identity, label_streams(sdp, identity, roles))


def check_framing(msg: SipMessage) -> None:
    """A Content-Length that is not the body's length means a cut or forged message."""
    declared = msg.get("content-length")
    if declared is None:
        return
    try:
        length = int(declared)
    except ValueError as err:
        raise MessageError(f"Content-Length {declared[:20]!r} is not a number") from err
    actual = len(msg.body.encode("utf-8", errors="surrogateescape"))
    if length != actual:
        raise MessageError(f"Content-Length {length} but the body has {actual} bytes")


def check_media(sdp: SessionDescription, max_streams: int) -> Admission | None:
    """Refuse offers the device cannot take apart: too many, none or ambiguous streams."""
    if len(sdp.media_kinds) > MAX_SDP_MEDIA:
        return Admission(488, f"{len(sdp.media_kinds)} media lines, at most {MAX_SDP_MEDIA}")
    if not sdp.audio:
        return Admission(488, "no audio stream in the offer")
    if len(sdp.audio) > max_streams:
        return Admission(488, f"{len(sdp.audio)} audio streams, at most {max_streams}")
    parties = [a.party_id for a in sdp.audio if a.party_id is not None]
    if len(parties) != len(set(parties)):
        return Admission(400, "two audio streams name the same party-id")
    return None


def label_streams(
    sdp: SessionDescription, identity: Identity, roles: PartyRoles | None = None
) -> tuple[StreamLabel, ...]:
    """One label per audio stream; several streams are told apart by their i= party."""
    roles = roles or PartyRoles(0)
    audio = sdp.audio
    if len(audio) <= 1:
        index = audio[0].index if audio else 0
        party = identity.party_id or (audio[0].party_id if audio else None)
        if party is None and identity.role is None:  # session-level: the whole call
            return (StreamLabel(index, None, MIXED_LABEL, StreamKind.MIXED),)
        label = identity.role or roles.get(identity.session_id, party) or party or MIXED_LABEL
        return (StreamLabel(index, party, label),)
    out = []
    for n, stream in enumerate(audio):
        party = stream.party_id
        label = roles.get(identity.session_id, party) or party or f"stream-{n}"
        out.append(StreamLabel(stream.index, party, label))
    return tuple(out)
