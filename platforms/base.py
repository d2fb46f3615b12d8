"""What every platform adapter offers, and the records it speaks in.

An adapter (RingCentral, RingCX, Genesys, Yeastar) hides one platform's API
behind five verbs: :meth:`Platform.open` (authenticate, find the supervisor
device, subscribe), :meth:`Platform.poll` (what calls there are now),
:meth:`Platform.prepare` (learn what supervising a call needs: its parties),
:meth:`Platform.supervise` and :meth:`Platform.stop`, and :meth:`Platform.close`.
The :mod:`~platforms.policy` decides which calls to supervise and the
:mod:`~platforms.watcher` loop runs it; neither knows any platform.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

CALL_STATES = ("ringing", "answered", "ended")


@dataclass(frozen=True, slots=True)
class CallParty:
    party_id: str  # the platform's party id (RingCentral partyId)
    role: str  # "agent", "customer" or "" when unknown


@dataclass(frozen=True, slots=True)
class LiveCall:
    """A call on the platform, as far as the adapter knows it."""

    call_id: str  # telephonySessionId, uii, Yeastar call_id, or "listen-in:<device>" (Genesys)
    agent: str  # the monitored agent: extension id, agent name, device id
    state: str  # ringing | answered | ended
    legs: int = 1  # SIP calls its supervision takes on the device (estimate until prepared)
    target: str = ""  # what the supervise request names, when not call_id (Yeastar channel_id)
    parties: tuple[CallParty, ...] = ()  # known after prepare() where the platform has parties
    hint: str = ""  # e.g. the caller's number: helps match the supervise INVITE

    def __post_init__(self) -> None:
        if self.state not in CALL_STATES:
            raise ValueError(f"call state must be one of {CALL_STATES}, got {self.state!r}")
        if not self.call_id:
            raise ValueError("a call needs a call_id")
        if self.legs < 0:
            raise ValueError("legs must be >= 0")


@dataclass(frozen=True, slots=True)
class Observation:
    """One look at the platform's calls."""

    calls: tuple[LiveCall, ...]
    complete: bool  # a full snapshot: a tracked call missing from it has ended


@dataclass(frozen=True, slots=True)
class Supervision:
    """A supervise request the platform accepted."""

    call_id: str
    legs: int  # SIP calls the platform places to the device for it
    handles: tuple[str, ...] = ()  # what stop() needs (supervisor party ids, phone number)
    session_id: str = ""  # the id the INVITE names (RingCentral p-rc-api-monitoring-ids)


class Platform(Protocol):
    name: str
    invite_names_call: bool  # the INVITE carries the call id; else InviteMatcher pairs them
    interval_s: float  # how often the watcher should poll

    def open(self) -> None: ...
    def poll(self) -> Observation: ...
    def prepare(self, call: LiveCall) -> LiveCall: ...
    def supervise(self, call: LiveCall) -> Supervision: ...
    def stop(self, supervision: Supervision) -> None: ...
    def close(self) -> None: ...
