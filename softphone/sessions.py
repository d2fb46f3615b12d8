"""Who a SIP session is: the one owner of call identity on each side of the device.

A supervised call (a *session*) arrives as one INVITE with a stream per party or
as one INVITE per party (*legs*).  :class:`Sessions` is the sans-I/O registry of
the open ones: which legs each has, the name the pipeline sees (the platform's
call id once an adapter names it, settled at first use), and whether its single
plain stream holds the whole call (``StreamKind.MIXED``).  A session ends with
its last leg and then leaves nothing behind; a session id that comes again is a
new session.  The device keeps one registry on its thread (with each session's
call clock); :class:`~softphone.feed.Feed` keeps another, built from the
device's records only, so a device in another process can feed it the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .clock import SessionClock


@dataclass(slots=True)
class Session:
    session_id: str
    legs: set[str] = field(default_factory=set)  # open INVITE dialogs
    plain_label: str | None = None  # the From-user label of a plain one-stream leg
    name: str | None = None  # the pipeline's call id, once settled
    mixed: bool = False  # named plain session: its one stream is the whole call
    clock: SessionClock | None = None  # the device side's call clock


class Sessions:
    def __init__(self) -> None:
        self._open: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._open)

    def get(self, session_id: str) -> Session | None:
        return self._open.get(session_id)

    def clock(self, session_id: str) -> SessionClock:
        """The call clock of an open session (device side); KeyError when it has none."""
        clock = self._open[session_id].clock
        if clock is None:
            raise KeyError(session_id)
        return clock

    def open_leg(self, session_id: str, leg: str, plain_label: str | None = None) -> Session:
        """Add ``leg`` to its session, opening the session on its first leg."""
        session = self._open.get(session_id)
        if session is None:
            session = self._open[session_id] = Session(session_id)
        session.legs.add(leg)
        if plain_label is not None:
            session.plain_label = plain_label
        return session

    def close_leg(self, session_id: str, leg: str) -> Session | None:
        """Remove ``leg``; returns the session when that was its last leg (it is gone)."""
        session = self._open.get(session_id)
        if session is None:
            return None
        session.legs.discard(leg)
        if session.legs:
            return None
        return self._open.pop(session_id)

    def call_id(self, session_id: str, names: Callable[[str], str | None] | None) -> str:
        """The pipeline's call id for a session, settled at its first use.

        ``names`` (a platform adapter) is asked once; a later name is ignored.
        A session not open (frames racing its answer) is named but not stored.
        """
        session = self._open.get(session_id)
        if session is not None and session.name is not None:
            return session.name
        given = names(session_id) if names is not None else None
        name = given or session_id
        if session is not None:
            session.name = name
            session.mixed = bool(given) and session.plain_label is not None
        return name

    def is_mixed(self, session_id: str, label: str) -> bool:
        session = self._open.get(session_id)
        return session is not None and session.mixed and session.plain_label == label

    def clear(self) -> None:
        self._open.clear()
