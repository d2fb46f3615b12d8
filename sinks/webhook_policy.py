"""Webhooks, sans-I/O: a target's config, the request signature, the retry schedule
and the bounded queue with its drop policy.

No sockets, threads or clock reads here: the caller gives the timestamp, the
attempt number and the HTTP outcome (:mod:`sinks.webhooks` does the I/O).

A request's body is the event's one JSON text (``format = "deepgram"``: one
Deepgram message made from it, :mod:`sinks.deepgram`); its headers::

    Content-Type: application/json
    X-Listenin-Event: transcript.final               (our event type, in both formats)
    X-Listenin-Seq: 42                               (per target: 1, 2, ...; same on a retry)
    X-Listenin-Timestamp: 1767225600                 (unix seconds, when sent)
    X-Listenin-Signature: sha256=HEX(HMAC-SHA256(secret, "{timestamp}.{body}"))

The signature is present only when the target has a secret.  Receivers check it
and refuse old timestamps (replays); a repeated ``X-Listenin-Seq`` is a retry
whose answer was lost (a duplicate), a gap is what the queue dropped or gave up on.

The retry schedule is exponential with full jitter (a delay drawn uniformly in
``[0, min(backoff_max_s, backoff_initial_s * 2 ** (retry - 1))]``: the caller
draws the number); a ``Retry-After`` on a 429 or 5xx answer is waited instead.
"""

from __future__ import annotations

import hmac
import re
from collections import deque
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import Enum
from hashlib import sha256
from pathlib import Path
from urllib.parse import urlsplit

from .deepgram import FORMATS

EVENT_TYPES = (
    "call.started", "call.ended", "party.joined", "party.left", "transcript.partial",
    "transcript.final", "alert", "redaction", "recording.paused", "recording.resumed",
    "call.stats", "dtmf",
)  # fmt: skip
# not by default: call.stats (chatty) and dtmf (keyed digits can be card numbers or PINs)
DEFAULT_EVENTS = tuple(t for t in EVENT_TYPES if t not in ("call.stats", "dtmf"))
DROP_FIRST = frozenset({"transcript.partial", "call.stats"})  # dropped first when full
DROP_POLICY = "drop_partials_first"  # then the oldest
RETRY_AFTER_MAX_S = 3600.0  # the longest Retry-After honoured (longer ones wait this)
_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


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
    format: str = "listenin"  # or "deepgram": Deepgram Results/UtteranceEnd/Metadata bodies
    name: str = ""  # the /metrics label; "": the url's host[:port]
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
        if self.format not in FORMATS:
            raise WebhookConfigError(f"format must be one of {', '.join(FORMATS)}, got "
                                     f"{self.format!r}")  # fmt: skip
        if self.name and not _NAME.fullmatch(self.name):
            raise WebhookConfigError(f"name must be 1..64 of A-Z a-z 0-9 _ . : -, got "
                                     f"{self.name!r}")  # fmt: skip
        if not 1 <= self.queue_events <= 1_000_000:
            raise WebhookConfigError(f"queue_events must be within 1..1000000, got "
                                     f"{self.queue_events}")  # fmt: skip

    def wants(self, event_type: str, party: str | None) -> bool:
        """Whether this target posts an event of this type (and party, if it has one)."""
        if event_type not in self.events:
            return False
        return party is None or not self.parties or party in self.parties

    @property
    def label(self) -> str:
        """The target's name for logs and metrics: never the path, query or credentials."""
        if self.name:
            return self.name
        parts = urlsplit(self.url)
        return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


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


def headers(
    event_type: str, body: str, timestamp: int, secret: bytes, seq: int = 0
) -> dict[str, str]:
    """The request headers for one attempt (signed when there is a secret)."""
    out = {
        "Content-Type": "application/json",
        "X-Listenin-Event": event_type,
        "X-Listenin-Seq": str(seq),
        "X-Listenin-Timestamp": str(timestamp),
    }
    if secret:
        out["X-Listenin-Signature"] = signature(secret, timestamp, body)
    return out


class Outcome(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"  # 5xx, 429, a timeout, a connection error
    GIVE_UP = "give_up"  # any other answer (4xx, 3xx): retrying would not help


def outcome(status: int | None) -> Outcome:
    """What an attempt's answer means; ``None``: no answer (timeout, connection error)."""
    if status is None or status >= 500 or status == 429:
        return Outcome.RETRY
    return Outcome.DELIVERED if 200 <= status < 300 else Outcome.GIVE_UP


def backoff_s(config: WebhookConfig, retry: int, unit: float = 1.0) -> float:
    """The wait before retry number ``retry`` (1, 2, ...): full jitter, ``unit`` (drawn
    uniformly in [0, 1] by the caller) times the capped exponential; 1.0: the cap."""
    ceiling = min(config.backoff_initial_s * 2 ** min(retry - 1, 64), config.backoff_max_s)
    return min(max(unit, 0.0), 1.0) * ceiling


def retry_after_s(value: str | None, now: float) -> float | None:
    """A ``Retry-After`` header's wait in seconds (delta-seconds or an HTTP date, ``now``
    being unix seconds), at most :data:`RETRY_AFTER_MAX_S`; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        wait = float(value)
    else:
        try:
            wait = parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return min(max(wait, 0.0), RETRY_AFTER_MAX_S)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message waiting for a target: its event's type, its JSON text, its number."""

    type: str
    body: str
    seq: int = 0  # per target, from 1; the X-Listenin-Seq header
    queued_at: float = 0.0  # s, the target's monotonic clock: for the delivery delay


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
