"""What websocket clients may send, parsed into records; everything else is an error.

Sans-I/O: :func:`parse_request` takes the text of one client message and
returns a request record or raises :class:`RequestError` with a stable
``code`` that the server sends back as an ``error`` event (the connection
stays open).  Messages::

    {"type": "subscribe", "calls": ["id", ...], "parties": ["agent"],
     "resume": {"call-id": last_seq}, "replay": true,
     "partials": false, "format": "deepgram"}              all keys optional
    {"type": "unsubscribe"}
    {"type": "recording.pause", "call_id": "id"}
    {"type": "recording.resume", "call_id": "id"}
    {"type": "ping", "id": anything}

Only strict JSON is accepted: ``NaN``, ``Infinity`` and numbers too large for a
float are refused (``bad_json``), and so is nesting deeper than
:data:`MAX_DEPTH` (``too_deep``; the parser's own recursion limit is caught
too), so whatever is echoed back (a ping's ``id``) serialises as strict JSON.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from .deepgram import parse_format
from .filters import Filter

MAX_IDS = 256  # call ids / parties in one subscribe
MAX_DEPTH = 32  # nested arrays / objects in one message


class RequestError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"type": "error", "code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class Subscribe:
    filter: Filter
    resume: dict[str, int]
    replay: bool
    format: str | None = None  # "listenin" or "deepgram" (sinks.deepgram); None: unchanged


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    pass


@dataclass(frozen=True, slots=True)
class RecordingControl:
    call_id: str
    pause: bool  # False: resume


@dataclass(frozen=True, slots=True)
class Ping:
    id: Any


Request = Subscribe | Unsubscribe | RecordingControl | Ping


def parse_request(text: str | bytes) -> Request:
    if isinstance(text, bytes):
        raise RequestError("binary", "send JSON text messages, not binary ones")
    try:
        msg = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError as err:  # the parser's own limit (~1000 levels)
        raise RequestError("too_deep", f"JSON nested deeper than {MAX_DEPTH} levels") from err
    except ValueError as err:
        raise RequestError("bad_json", f"not JSON: {err}") from err
    if nesting(msg) > MAX_DEPTH:
        raise RequestError("too_deep", f"JSON nested deeper than {MAX_DEPTH} levels")
    if not isinstance(msg, dict):
        raise RequestError("bad_message", "a message must be a JSON object")
    kind = msg.get("type")
    if kind == "subscribe":
        return _subscribe(msg)
    if kind == "unsubscribe":
        return Unsubscribe()
    if kind in ("recording.pause", "recording.resume"):
        call_id = msg.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            raise RequestError("bad_field", f"{kind} needs a call_id string")
        return RecordingControl(call_id, kind == "recording.pause")
    if kind == "ping":
        return Ping(msg.get("id"))
    raise RequestError("unknown_type", f"unknown message type {kind!r}")


def nesting(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deep arrays and objects nest in a parsed ``value`` (counting stops past ``limit``)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > limit:
                break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"{literal[:20]} is too large for a number")
    return value


def _ids(msg: dict[str, Any], key: str) -> frozenset[str] | None:
    value = msg.get(key)
    if value is None or value == "*":
        return None
    if (
        not isinstance(value, list)
        or len(value) > MAX_IDS
        or not all(isinstance(v, str) and v for v in value)
    ):
        raise RequestError("bad_field", f"{key} must be '*' or a list of at most {MAX_IDS} strings")
    return frozenset(value)


def _subscribe(msg: dict[str, Any]) -> Subscribe:
    resume = msg.get("resume") or {}
    if (
        not isinstance(resume, dict)
        or len(resume) > MAX_IDS
        or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for k, v in resume.items()
        )
    ):
        raise RequestError("bad_field", "resume must map call ids to the last seq seen (int >= 0)")
    replay, partials = msg.get("replay", False), msg.get("partials", True)
    if not isinstance(replay, bool) or not isinstance(partials, bool):
        raise RequestError("bad_field", "replay and partials must be true or false")
    fmt = msg.get("format")
    if fmt is not None and parse_format(fmt) is None:
        raise RequestError("bad_field", "format must be 'listenin' or 'deepgram'")
    flt = Filter(_ids(msg, "calls"), _ids(msg, "parties"), partials)
    return Subscribe(flt, dict(resume), replay, fmt)
