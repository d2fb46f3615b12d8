"""Which supervised call and party an incoming INVITE is about.

Pure functions over the INVITE's headers.  RingCentral puts the supervisor's own
ids in ``p-rc-api-ids`` and the monitored session / party in
``p-rc-api-monitoring-ids`` (``party-id=...;session-id=...``).  Other platforms
can add configurable headers (e.g. ``X-Session-Id``, ``X-Party-Id``,
``X-Party-Role``); without any, the SIP Call-ID and the From user are used.
Ids from headers must be plain tokens; the From user, free text, is cleaned
of control characters and cut short (:func:`records.labels.clean_label`), so
that what reaches events, file names and logs is safe to print.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from records.labels import clean_label

MAX_HEADER_CHARS = 1024
_ID_RE = re.compile(r"^[A-Za-z0-9._:@!~+\-]{1,128}$")
_CALL_ID_RE = re.compile(r"^[!-~]{1,256}$")  # RFC 3261 word chars, printable ASCII


class IdentificationError(ValueError):
    """Headers that are present but malformed, or missing when required."""


class Unidentified(IdentificationError):
    """No session headers, and identification is required."""


@dataclass(frozen=True, slots=True)
class HeaderNames:
    session: str = "X-Session-Id"
    party: str = "X-Party-Id"
    role: str = "X-Party-Role"


@dataclass(frozen=True, slots=True)
class Identity:
    session_id: str  # the supervised call (becomes the pipeline call_id)
    party_id: str | None  # the monitored party, when the INVITE is per party
    role: str | None  # "agent", "customer" ... when the platform says
    source: str  # "ringcentral", "headers" or "fallback"

    @property
    def label(self) -> str:
        return self.role or self.party_id or "mixed"


def parse_params(value: str) -> dict[str, str]:
    """``party-id=p-1;session-id=s-2`` (also comma separated) -> dict, keys lower-case."""
    if len(value) > MAX_HEADER_CHARS:
        raise IdentificationError(f"header value of {len(value)} chars is too long")
    out: dict[str, str] = {}
    for item in re.split(r"[;,]", value):
        item = item.strip()
        if not item:
            continue
        key, sep, val = item.partition("=")
        key, val = key.strip().lower(), val.strip().strip('"')
        if not sep or not key or not _ID_RE.match(val):
            raise IdentificationError(f"malformed parameter {item[:60]!r}")
        out[key] = val
    return out


def _get(headers: Mapping[str, str], name: str) -> str | None:
    lower = name.lower()
    for key, value in headers.items():
        if key.lower() == lower:
            return value
    return None


def _checked(value: str, what: str) -> str:
    value = value.strip()
    if not _ID_RE.match(value):
        raise IdentificationError(f"malformed {what} {value[:60]!r}")
    return value


def from_user(from_header: str) -> str | None:
    """The user part of a ``From`` URI, cleaned of control characters (it reaches logs)."""
    m = re.search(r"sips?:([^@;>]+)@", from_header[:MAX_HEADER_CHARS])
    return clean_label(m.group(1)) if m else None


def identify(
    headers: Mapping[str, str],
    names: HeaderNames | None = None,
    require: bool = False,
) -> Identity:
    """Identify the call and party; ``require`` refuses the Call-ID fallback."""
    names = names or HeaderNames()
    mon = _get(headers, "p-rc-api-monitoring-ids")
    if mon is not None:
        params = parse_params(mon)
        if "session-id" not in params:
            raise IdentificationError("p-rc-api-monitoring-ids has no session-id")
        return Identity(params["session-id"], params.get("party-id"), None, "ringcentral")
    session = _get(headers, names.session)
    if session is not None:
        party = _get(headers, names.party)
        role = _get(headers, names.role)
        return Identity(
            _checked(session, names.session),
            _checked(party, names.party) if party is not None else None,
            _checked(role, names.role).lower() if role is not None else None,
            "headers",
        )
    if require:
        raise Unidentified("INVITE does not identify a supervised call")
    call_id = _get(headers, "Call-ID")
    if not call_id:
        raise IdentificationError("INVITE has no Call-ID")
    user = from_user(_get(headers, "From") or "")
    call_id = call_id.strip()
    if not _CALL_ID_RE.match(call_id):
        raise IdentificationError(f"malformed Call-ID {call_id[:60]!r}")
    return Identity(call_id, user, None, "fallback")
