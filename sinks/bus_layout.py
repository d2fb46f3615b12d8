"""The event bus's layout on Redis Streams: its config, stream keys and entries.

Sans-I/O: pure functions from a node's stamped messages (:class:`~sinks.hub.Outgoing`)
to the stream entries that carry them, and back.  The layout, under a prefix
(``listenin`` unless ``stream_prefix`` says otherwise)::

    {prefix}:call:{call_id}   one stream per call: every event, fields
                              seq, type, party ("" for none), json (the event's
                              one JSON text, seq included), node (the publishing
                              process's random id); MAXLEN ~ maxlen_per_call
    {prefix}:calls            the index: fields event ("started" | "ended"),
                              call_id, seq; MAXLEN ~ index_maxlen
    {prefix}:control          recording requests from gateways: fields call_id,
                              action ("pause" | "resume"); MAXLEN ~ CONTROL_MAXLEN

Trimming is approximate (``MAXLEN ~``): Redis keeps at least the bound, a little
more when that is cheaper.  A call's stream expires ``ended_ttl_s`` after its
``call.ended`` (0: kept, bounded by its MAXLEN only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .hub import DROPPABLE, Outgoing
from .protocol import RecordingControl

CONTROL_MAXLEN = 1000
SCHEMES = ("redis", "rediss", "unix")
Fields = Mapping[bytes | str, bytes | str]


class BusConfigError(ValueError):
    """The bus cannot be used with this configuration."""


@dataclass(frozen=True, slots=True)
class BusConfig:
    url: str  # redis://host:port/db, rediss://... (TLS) or unix:///path.sock
    maxlen_per_call: int = 10_000  # entries kept per call stream (approximately)
    index_maxlen: int = 10_000  # entries kept in the index of calls (approximately)
    stream_prefix: str = "listenin"
    queue_entries: int = 10_000  # the node's queue in front of its bus writer
    ended_ttl_s: int = 86_400  # a call's stream expires this long after it ended; 0: never

    def __post_init__(self) -> None:
        if not _redis_url(self.url):
            raise BusConfigError(
                f"url must look like redis://host:port/db (or rediss://, unix://), got {self.url!r}"
            )
        for name in ("maxlen_per_call", "index_maxlen"):
            if getattr(self, name) < 100:
                raise BusConfigError(f"{name} must be >= 100, got {getattr(self, name)}")
        if not 16 <= self.queue_entries <= 1_000_000:
            raise BusConfigError(f"queue_entries must be within 16..1000000, got "
                                 f"{self.queue_entries}")  # fmt: skip
        if self.ended_ttl_s < 0:
            raise BusConfigError(f"ended_ttl_s must be >= 0, got {self.ended_ttl_s}")
        prefix = self.stream_prefix
        if not prefix or len(prefix) > 64 or not prefix.isprintable() or " " in prefix:
            raise BusConfigError(f"stream_prefix must be 1-64 printable characters without "
                                 f"spaces, got {prefix!r}")  # fmt: skip

    @property
    def where(self) -> str:
        """The url without a password, for log lines."""
        url = urlsplit(self.url)
        return f"{url.scheme}://{url.hostname or ''}{':' if url.port else ''}{url.port or ''}" + (
            url.path
        )


def _redis_url(text: str) -> bool:
    """``redis://[user:password@]host[:port][/db]``, ``rediss://...`` or ``unix:///path``."""
    try:
        url = urlsplit(text)
        url.port  # noqa: B018 (a bad port raises)
    except ValueError:
        return False
    if url.scheme not in SCHEMES:
        return False
    if url.scheme == "unix":
        return url.path.startswith("/")
    return bool(url.hostname) and (url.path in ("", "/") or url.path[1:].isdigit())


@dataclass(frozen=True, slots=True)
class Entry:
    """One XADD: ``fields`` onto ``key``, trimmed to about ``maxlen``."""

    key: str
    fields: dict[str, bytes | str]
    maxlen: int
    droppable: bool = False  # a partial or a stats tick: dropped first when the queue is full
    ttl_s: int | None = None  # then EXPIRE the key (> 0) or PERSIST it (0); None: neither


def call_key(prefix: str, call_id: str) -> str:
    return f"{prefix}:call:{call_id}"


def call_of(prefix: str, key: str) -> str | None:
    """The call id of a call stream's key; None for any other key."""
    head = f"{prefix}:call:"
    return key[len(head) :] if key.startswith(head) else None


def index_key(prefix: str) -> str:
    return f"{prefix}:calls"


def control_key(prefix: str) -> str:
    return f"{prefix}:control"


def entries_for(msg: Outgoing, config: BusConfig, node: str = "") -> list[Entry]:
    """What ``node`` XADDs for one stamped message: its call entry, and an index entry."""
    call_id = str(msg.call_id)
    key = call_key(config.stream_prefix, call_id)
    fields: dict[str, bytes | str] = {
        "seq": str(msg.seq), "type": msg.type, "party": msg.party or "", "json": msg.data,
        "node": node,
    }  # fmt: skip
    ttl = None
    if msg.type == "call.started":
        ttl = 0  # a reused call id: its stream must not expire mid-call
    elif msg.type == "call.ended" and config.ended_ttl_s:
        ttl = config.ended_ttl_s
    out = [Entry(key, fields, config.maxlen_per_call, msg.type in DROPPABLE, ttl)]
    if msg.type in ("call.started", "call.ended"):
        event = "started" if msg.type == "call.started" else "ended"
        index = {"event": event, "call_id": call_id, "seq": str(msg.seq)}
        out.append(Entry(index_key(config.stream_prefix), dict(index), config.index_maxlen))
    return out


def _text(fields: Fields, name: str) -> str:
    value = fields.get(name.encode(), fields.get(name))
    if value is None:
        raise ValueError(f"entry has no {name!r} field")
    return value.decode() if isinstance(value, bytes) else value


def decode_call_entry(call_id: str, fields: Fields) -> Outgoing:
    """A call stream's entry as the message a gateway's hub delivers; ValueError if malformed."""
    seq = int(_text(fields, "seq"))
    if seq < 1:
        raise ValueError(f"seq must be >= 1, got {seq}")
    data = fields.get(b"json", fields.get("json"))
    if data is None:
        raise ValueError("entry has no 'json' field")
    data = data if isinstance(data, bytes) else data.encode()
    if not data.startswith(b"{") or not data.endswith(b"}"):
        raise ValueError("the entry's json is not an object")
    party = _text(fields, "party") or None
    node = fields.get(b"node", fields.get("node", b""))
    origin = node.decode() if isinstance(node, bytes) else node
    return Outgoing(call_id, seq, _text(fields, "type"), party, data, origin)


@dataclass(frozen=True, slots=True)
class IndexEntry:
    event: str  # "started" | "ended"
    call_id: str
    seq: int


def decode_index_entry(fields: Fields) -> IndexEntry:
    event = _text(fields, "event")
    if event not in ("started", "ended"):
        raise ValueError(f"unknown index event {event!r}")
    return IndexEntry(event, _text(fields, "call_id"), int(_text(fields, "seq")))


def control_entry(req: RecordingControl, config: BusConfig) -> Entry:
    fields: dict[str, bytes | str] = {
        "call_id": req.call_id, "action": "pause" if req.pause else "resume",
    }  # fmt: skip
    return Entry(control_key(config.stream_prefix), fields, CONTROL_MAXLEN)


def decode_control_entry(fields: Fields) -> RecordingControl:
    action = _text(fields, "action")
    if action not in ("pause", "resume"):
        raise ValueError(f"unknown control action {action!r}")
    return RecordingControl(_text(fields, "call_id"), action == "pause")
