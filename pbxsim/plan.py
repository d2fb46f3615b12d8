"""What the simulator sends: pure helpers for headers and SDP titles."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FORMS = ("two-streams", "per-party", "headers", "bare")


@dataclass(frozen=True, slots=True)
class SimParty:
    party_id: str
    role: str  # agent / customer, as the fixture says
    wav: Path


@dataclass(frozen=True, slots=True)
class SimSession:
    session_id: str
    parties: tuple[SimParty, ...]
    duration_s: float


@dataclass(frozen=True, slots=True)
class SimLeg:
    """One INVITE: the parties it carries (one stream each) and its extra headers."""

    session_id: str
    parties: tuple[SimParty, ...]
    headers: tuple[tuple[str, str], ...]


def load_session(fixture_json: Path, session_id: str) -> SimSession:
    ref = json.loads(fixture_json.read_text())
    parties = tuple(
        SimParty(f"{session_id}-{n + 1}", role, fixture_json.parent / wav)
        for n, (role, wav) in enumerate(ref["parties"].items())
    )
    return SimSession(session_id, parties, float(ref["duration"]))


def legs(session: SimSession, form: str, supervisor_party: str = "sup-1") -> tuple[SimLeg, ...]:
    if form == "two-streams":
        hdr = (
            ("p-rc-api-ids", f"party-id={supervisor_party};session-id={session.session_id}"),
            ("p-rc-api-monitoring-ids", f"session-id={session.session_id}"),
        )
        return (SimLeg(session.session_id, session.parties, hdr),)
    if form == "per-party":
        return tuple(
            SimLeg(
                session.session_id,
                (p,),
                (
                    (
                        "p-rc-api-ids",
                        f"party-id={supervisor_party};session-id={session.session_id}",
                    ),
                    (
                        "p-rc-api-monitoring-ids",
                        f"party-id={p.party_id};session-id={session.session_id}",
                    ),
                ),  # fmt: skip
            )
            for p in session.parties
        )
    if form == "headers":
        return tuple(
            SimLeg(
                session.session_id,
                (p,),
                (
                    ("X-Session-Id", session.session_id),
                    ("X-Party-Id", p.party_id),
                    ("X-Party-Role", p.role),
                ),  # fmt: skip
            )
            for p in session.parties
        )
    if form == "bare":  # a plain SIP call: nothing names the supervised session
        return tuple(SimLeg(session.session_id, (p,), ()) for p in session.parties)
    raise ValueError(f"form must be one of {FORMS}, got {form!r}")


def leg_result(
    leg: SimLeg, t_invite: float, t_answer: float | None, status: int, reason: str
) -> dict:
    """What the simulator prints per leg (one JSON line)."""
    answer_ms = (t_answer - t_invite) * 1000 if t_answer is not None else None
    return {
        "session_id": leg.session_id,
        "parties": [p.party_id for p in leg.parties],
        "answered": t_answer is not None,
        "invite_to_answer_ms": round(answer_ms, 2) if answer_ms is not None else None,
        "status": status,
        "reason": reason,
    }


def title_streams(sdp: str, party_ids: tuple[str, ...]) -> str:
    """Add ``i=party-id=...`` after each ``m=audio`` line, in order, as RingCentral does."""
    out, n = [], 0
    for line in sdp.replace("\r\n", "\n").split("\n"):
        out.append(line)
        if line.startswith("m=audio") and n < len(party_ids):
            out.append(f"i=party-id={party_ids[n]}")
            n += 1
    return "\r\n".join(out)
