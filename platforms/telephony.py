"""RingCentral Call Control records: telephony session notifications and session status.  Pure.

A telephony session notification (WebHook body, or the PubNub ``pn_apns``
wrapper) carries ``body.telephonySessionId``, a ``sequence`` and the parties it
is about, each with ``id``, ``extensionId``/``owner.extensionId``, ``direction``
and ``status.code`` (Setup, Proceeding, Answered, Hold, Disconnected, Gone ...).
:class:`SessionTracker` turns them into :class:`~platforms.base.LiveCall`
records for the monitored agents' parties, dropping out-of-order events.
``GET /restapi/v1.0/account/~/telephony/sessions/{id}`` gives every party with
its ``id`` (the partyId to supervise): :func:`parse_session`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from .base import LiveCall

ENDED = frozenset({"Disconnected", "Gone"})
TALKING = frozenset({"Answered", "Hold"})


class MalformedNotification(ValueError):
    """A telephony notification or session whose shape the documentation does not allow."""


@dataclass(frozen=True, slots=True)
class PartyState:
    party_id: str
    extension_id: str  # owner.extensionId, else extensionId; "" for an outside party
    status: str  # status.code
    direction: str


@dataclass(frozen=True, slots=True)
class SessionEvent:
    session_id: str  # telephonySessionId
    sequence: int
    parties: tuple[PartyState, ...]


def call_state(status: str) -> str:
    if status in ENDED:
        return "ended"
    return "answered" if status in TALKING else "ringing"


def _party(p: Any) -> PartyState:
    if not isinstance(p, dict) or not isinstance(p.get("id"), str) or not p["id"]:
        raise MalformedNotification("a party without an id")
    status = p.get("status")
    code = status.get("code") if isinstance(status, dict) else None
    if not isinstance(code, str):
        raise MalformedNotification(f"party {p['id']} has no status.code")
    owner = p["owner"] if isinstance(p.get("owner"), dict) else {}
    ext = owner.get("extensionId") or p.get("extensionId") or ""
    return PartyState(p["id"], str(ext), code, str(p.get("direction", "")))


def parse_parties(items: Any) -> tuple[PartyState, ...]:
    if not isinstance(items, list):
        raise MalformedNotification("parties is not a list")
    return tuple(_party(p) for p in items)


def parse_notification(payload: Any) -> SessionEvent | None:
    """A notification -> :class:`SessionEvent`; None when it is not a telephony session event."""
    if not isinstance(payload, dict):
        raise MalformedNotification("notification is not a JSON object")
    if isinstance(payload.get("pn_apns"), dict) and "body" not in payload:
        payload = payload["pn_apns"]
    event = payload.get("event", "")
    if not isinstance(event, str) or not event.split("?")[0].endswith("/telephony/sessions"):
        return None
    body = payload.get("body")
    if not isinstance(body, dict):
        raise MalformedNotification("telephony notification without a body")
    session = body.get("telephonySessionId")
    if not isinstance(session, str) or not session:
        raise MalformedNotification("telephony notification without telephonySessionId")
    sequence = body.get("sequence", 0)
    if not isinstance(sequence, int):
        raise MalformedNotification(f"sequence {sequence!r} is not an integer")
    return SessionEvent(session, sequence, parse_parties(body.get("parties")))


def parse_session(body: Any) -> tuple[str, tuple[PartyState, ...]]:
    """``GET .../telephony/sessions/{id}`` -> (session id, parties)."""
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise MalformedNotification("session status without an id")
    return body["id"], parse_parties(body.get("parties"))


class SessionTracker:
    """Session events -> the monitored agents' calls.  Bounded (``capacity`` sessions)."""

    def __init__(self, agents: set[str], legs: int, capacity: int = 4096) -> None:
        self.agents = agents
        self.legs = legs  # legs a supervision is expected to take before prepare() knows
        self.capacity = capacity
        self._seq: OrderedDict[str, int] = OrderedDict()
        self.stale = 0

    def push(self, event: SessionEvent) -> LiveCall | None:
        mine = [p for p in event.parties if p.extension_id in self.agents]
        if not mine:
            return None
        last = self._seq.get(event.session_id)
        if last is not None and event.sequence and event.sequence <= last:
            self.stale += 1
            return None
        self._seq[event.session_id] = event.sequence
        self._seq.move_to_end(event.session_id)
        while len(self._seq) > self.capacity:
            self._seq.popitem(last=False)
        party = mine[0]
        return LiveCall(
            event.session_id, party.extension_id, call_state(party.status), legs=self.legs
        )
