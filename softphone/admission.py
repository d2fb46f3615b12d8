"""Decide what to do with an incoming INVITE, and which stream is which party.

Pure: the device passes the INVITE text, its source address and how many calls
are open; :func:`admit` returns an :class:`Admission` with the SIP status to
answer with and, when accepted, the identity and one :class:`StreamLabel` per
audio stream.  Only supervise calls are answered: an untrusted source (403), an
unidentified call when identification is required (403), a malformed request
(400) or a device at its call limit (486) are refused with a reason to log.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from records.device import StreamLabel
from records.kinds import MIXED_LABEL, StreamKind

from .addresses import is_trusted
from .config import AdmissionConfig
from .identify import IdentificationError, Identity, Unidentified, identify
from .message import MessageError, SipMessage, parse_message
from .sdp import SdpError, parse_sdp


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

    def set(self, session_id: str, party_id: str, role: str) -> None:
        self._roles[(session_id, party_id)] = role
        self._roles.move_to_end((session_id, party_id))
        while len(self._roles) > self.capacity:
            self._roles.popitem(last=False)

    def get(self, session_id: str, party_id: str | None) -> str | None:
        return self._roles.get((session_id, party_id)) if party_id else None


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
    try:
        msg = parse_message(invite)
        identity = identify(msg.as_dict(), config.headers, config.require_identification)
    except Unidentified as err:
        return Admission(403, str(err))
    except (MessageError, IdentificationError) as err:
        return Admission(400, str(err))
    if calls_open >= config.max_calls:
        return Admission(486, f"device at its {config.max_calls}-call limit")
    try:
        streams = label_streams(msg, identity, roles)
    except SdpError as err:
        return Admission(400, f"bad SDP: {err}")
    return Admission(200, "OK", identity, streams)


def label_streams(
    msg: SipMessage, identity: Identity, roles: PartyRoles | None = None
) -> tuple[StreamLabel, ...]:
    """One label per audio stream; several streams are told apart by their i= party."""
    roles = roles or PartyRoles(0)
    audio = parse_sdp(msg.body).audio if msg.body.strip() else ()
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
