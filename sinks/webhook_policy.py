"""Webhooks, sans-I/O: a target's config, the request signature, the retry schedule
and the bounded queue with its drop policy.

No sockets, threads or clock reads here: the caller gives the timestamp, the
attempt number and the HTTP outcome (:mod:`sinks.webhooks` does the I/O).

A request's body is the event's one JSON text; its headers::

    Content-Type: application/json
    X-Listenin-Event: transcript.final
    X-Listenin-Timestamp: 1767225600                 (unix seconds, when sent)
    X-Listenin-Signature: sha256=HEX(HMAC-SHA256(secret, "{timestamp}.{body}"))

The signature is present only when the target has a secret.  Receivers check it
and refuse old timestamps (replays).
"""

from __future__ import annotations

import hmac
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from hashlib import sha256
from pathlib import Path
from urllib.parse import urlsplit

EVENT_TYPES = (
    "call.started", "call.ended", "party.joined", "party.left", "transcript.partial",
    "transcript.final", "recording.paused", "recording.resumed", "call.stats", "dtmf",
)  # fmt: skip
# not by default: call.stats (chatty) and dtmf (keyed digits can be card numbers or PINs)
DEFAULT_EVENTS = tuple(t for t in EVENT_TYPES if t not in ("call.stats", "dtmf"))
DROP_FIRST = frozenset({"transcript.partial", "call.stats"})  # dropped first when full
DROP_POLICY = "drop_partials_first"  # then the oldest


class WebhookConfigError(ValueError):
    """A webhook target that cannot be used with this configuration."""


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    url: str  # http:// or https://
    events: tuple[str, ...] = DEFAULT_EVENTS  # event types posted
    parties: tuple[str, ...] = ()  # only events of these parties (and party-less ones); (): all
    secret_env: str = ""  # names the variable holding the HMAC secret; "": unsigned
    timeout_s: float = 5.0  # per request (connect, read, write)
    max_retries: int = 5  # retries after the first try, then the dead-letter file
    backoff_initial_s: float = 0.5  # first retry delay, doubled each retry
    backoff_max_s: float = 30.0  # longest retry delay
    queue_events: int = 1000  # events waiting for this target, then drop_partials_first
    dead_letter_file: Path | None = None  # default: ARCHIVE_ROOT/webhooks-dead-letter.jsonl
    secret: bytes = field(default=b"", repr=False)  # read from secret_env at the edge

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise WebhookConfigError(f"url must be http://host/... or https://..., got "
                                     f"{self.url!r}")  # fmt: skip
        unknown = [t for t in self.events if t not in EVENT_TYPES]
        if unknown or not self.events:
            raise WebhookConfigError(f"events must be some of {', '.join(EVENT_TYPES)}, got "
                                     f"{list(self.events)}")  # fmt: skip
        if not 0.1 <= self.timeout_s <= 300:
            raise WebhookConfigError(f"timeout_s must be within 0.1..300, got {self.timeout_s}")
        if not 0 <= self.max_retries <= 100:
            raise WebhookConfigError(f"max_retries must be within 0..100, got "
                                     f"{self.max_retries}")  # fmt: skip
        if not 0 <= self.backoff_initial_s <= self.backoff_max_s <= 3600:
            raise WebhookConfigError(
                "backoff_initial_s and backoff_max_s must be 0 <= initial <= max <= 3600, got "
                f"{self.backoff_initial_s} and {self.backoff_max_s}"
            )
        if not 1 <= self.queue_events <= 1_000_000:
            raise WebhookConfigError(f"queue_events must be within 1..1000000, got "
                                     f"{self.queue_events}")  # fmt: skip

    def wants(self, event_type: str, party: str | None) -> bool:
        """Whether this target posts an event of this type (and party, if it has one)."""
        if event_type not in self.events:
            return False
        return party is None or not self.parties or party in self.parties


def signature(secret: bytes, timestamp: int, body: str) -> str:
    """``sha256=HEX`` of HMAC-SHA256 over ``"{timestamp}.{body}"``."""
    mac = hmac.new(secret, f"{timestamp}.{body}".encode(), sha256)
    return f"sha256={mac.hexdigest()}"


def verify(secret: bytes, timestamp: str, body: str, header: str) -> bool:
    """A receiver's check of ``X-Listenin-Signature`` (constant time)."""
    try:
        expected = signature(secret, int(timestamp), body)
    except ValueError:
        return False
    return hmac.compare_digest(expected, header)


def headers(event_type: str, body: str, timestamp: int, secret: bytes) -> dict[str, str]:
    """The request headers for one attempt (signed when there is a secret)."""
    out = {
        "Content-Type": "application/json",
        "X-Listenin-Event": event_type,
        "X-Listenin-Timestamp": str(timestamp),
    }
    if secret:
        out["X-Listenin-Signature"] = signature(secret, timestamp, body)
    return out


class Outcome(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"  # 5xx, a timeout, a connection error
    GIVE_UP = "give_up"  # any other answer (4xx, 3xx): retrying would not help


def outcome(status: int | None) -> Outcome:
    """What an attempt's answer means; ``None``: no answer (timeout, connection error)."""
    if status is None or status >= 500:
        return Outcome.RETRY
    return Outcome.DELIVERED if 200 <= status < 300 else Outcome.GIVE_UP


def backoff_s(config: WebhookConfig, retry: int) -> float:
    """The wait before retry number ``retry`` (1, 2, ...): exponential, capped."""
    return min(config.backoff_initial_s * 2 ** (retry - 1), config.backoff_max_s)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event waiting for a target: its type and its JSON text."""

    type: str
    body: str


class DeliveryQueue:
    """A bounded FIFO of deliveries; when full, ``drop_partials_first``: the oldest
    partial (or stats) event goes, else the oldest event of any type."""

    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        self._items: deque[Delivery] = deque()
        self._droppable = 0  # how many queued items are in DROP_FIRST

    def __len__(self) -> int:
        return len(self._items)

    def push(self, item: Delivery) -> Delivery | None:
        """Queue ``item``; returns the one dropped to make room, if any."""
        dropped = None
        if len(self._items) >= self.max_items:
            dropped = self._drop()
        self._items.append(item)
        self._droppable += item.type in DROP_FIRST
        return dropped

    def pop(self) -> Delivery | None:
        if not self._items:
            return None
        item = self._items.popleft()
        self._droppable -= item.type in DROP_FIRST
        return item

    def _drop(self) -> Delivery:
        if self._droppable:
            for i, item in enumerate(self._items):
                if item.type in DROP_FIRST:
                    del self._items[i]
                    self._droppable -= 1
                    return item
        item = self._items.popleft()
        self._droppable -= item.type in DROP_FIRST
        return item
