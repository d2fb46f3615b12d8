"""Webhooks: every event POSTed as JSON to each configured HTTP target.

One worker thread and one ``httpx.Client`` per target (:class:`WebhookTarget`);
:meth:`Webhooks.on_event` only queues, so a slow or dead receiver never delays
the audio path, the pipeline or another target.  Each target's queue is bounded
(``queue_events``, then ``drop_partials_first``: the oldest partial, else the
oldest event).  Each message gets the target's next ``seq`` when it is queued
(the ``X-Listenin-Seq`` header; a retry repeats it).  An attempt that times out,
cannot connect or gets a 5xx or 429 is retried, ``max_retries`` times, after the
answer's ``Retry-After`` or else a full-jitter exponential backoff
(``backoff_initial_s`` doubled each time up to ``backoff_max_s``); a 4xx (or
other non-2xx) answer is not retried.  What could not be delivered goes to the
dead-letter file, one JSON line per message.  The signing, the schedule and the
queue are sans-I/O in :mod:`sinks.webhook_policy`.  A ``format = "deepgram"``
target gets each event as the Deepgram messages :mod:`sinks.deepgram` makes of
it (one request each; rendered once per event for all such targets).

Counters (``delivered``, ``retried``, ``dropped``, ``dead_lettered``) and the
delivery delay are kept per target; :meth:`Webhooks.figures` copies them for
``/metrics``, :meth:`Webhooks.counters` sums them.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from .deepgram import PartyBook, messages
from .metrics import DELIVERY_BUCKETS_S, Buckets, WebhookFigures
from .webhook_policy import (
    Delivery,
    DeliveryQueue,
    Outcome,
    WebhookConfig,
    backoff_s,
    headers,
    outcome,
    retry_after_s,
)

log = logging.getLogger(__name__)
_DEAD_LETTER_LOCK = threading.Lock()  # targets may share one dead-letter file


class WebhookTarget:
    """One receiver: its bounded queue, its worker thread, its counters."""

    def __init__(
        self,
        config: WebhookConfig,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
        label: str | None = None,
    ) -> None:
        self.config = config
        self.label = label or config.label  # for logs and metrics: no path, query or secret
        self._clock, self._monotonic, self._jitter = clock, monotonic, jitter
        self._queue = DeliveryQueue(config.queue_events)
        self._cond = threading.Condition()
        self._closing = False
        self._abort = threading.Event()  # set when close() stops waiting: no more retries
        self.delivered = 0  # answered 2xx
        self.retried = 0  # attempts after a first one
        self.dropped = 0  # pushed out of the full queue
        self.dead_lettered = 0  # given up on (written to the dead-letter file, if any)
        self.delay = Buckets(DELIVERY_BUCKETS_S)  # s, queued to answered 2xx
        self._seq = 0  # the last number given (X-Listenin-Seq)
        self._thread = threading.Thread(target=self._run, name=f"webhook {self.label}",
                                        daemon=True)  # fmt: skip

    @property
    def queued(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._thread.start()

    def offer(self, event_type: str, party: str | None, *bodies: str | bytes) -> None:
        """Queue an event's message(s) if this target wants it; never blocks on the network."""
        if not bodies or not self.config.wants(event_type, party):
            return
        now = self._monotonic()
        with self._cond:
            if self._closing:
                return
            for body in bodies:
                self._seq += 1
                text = body if isinstance(body, str) else body.decode()
                if self._queue.push(Delivery(event_type, text, self._seq, now)) is not None:
                    self.dropped += 1
            self._cond.notify()

    def figures(self) -> WebhookFigures:
        """A copy of the counters and the delay histogram (any thread)."""
        with self._cond:
            return WebhookFigures(self.label, self.delivered, self.retried, self.dropped,
                                  self.dead_lettered, len(self._queue),
                                  self.delay.copy())  # fmt: skip

    def close(self, drain_s: float = 5.0) -> None:
        """Deliver what is queued for up to ``drain_s``; then what is left is dead-lettered."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if not self._thread.is_alive():
            return
        self._thread.join(drain_s)
        if self._thread.is_alive():
            self._abort.set()
            self._thread.join(self.config.timeout_s + 1.0)
        if self.dead_lettered:
            log.warning("webhook %s: %d event(s) not delivered, %d dropped", self.label,
                        self.dead_lettered, self.dropped)  # fmt: skip

    # -- the worker ---------------------------------------------------------------
    def _run(self) -> None:
        with httpx.Client(timeout=self.config.timeout_s) as client:
            while True:
                with self._cond:
                    while not self._queue and not self._closing:
                        self._cond.wait()
                    item = self._queue.pop()
                if item is None:
                    return  # closing, and nothing is left
                if self._abort.is_set():
                    self._dead_letter(item, "not sent before shutdown", 0)
                    continue
                self._deliver(client, item)

    def _deliver(self, client: httpx.Client, item: Delivery) -> None:
        retry = 0
        while True:
            status, reason, retry_after = self._attempt(client, item)
            result = outcome(status)
            if result is Outcome.DELIVERED:
                with self._cond:
                    self.delivered += 1
                    self.delay.observe(max(0.0, self._monotonic() - item.queued_at))
                return
            if result is Outcome.GIVE_UP or retry >= self.config.max_retries:
                self._dead_letter(item, reason, retry + 1)
                return
            retry += 1
            wait = retry_after  # the receiver's Retry-After, else full jitter
            if wait is None:
                wait = backoff_s(self.config, retry, self._jitter())
            if self._abort.wait(wait):
                self._dead_letter(item, f"{reason} (then shutdown)", retry)
                return
            self.retried += 1

    def _attempt(
        self, client: httpx.Client, item: Delivery
    ) -> tuple[int | None, str, float | None]:
        """One POST: the status (None: no answer), a reason, the answer's Retry-After (s)."""
        now = self._clock()
        sent = headers(item.type, item.body, int(now), self.config.secret, item.seq)
        try:
            response = client.post(self.config.url, content=item.body.encode(), headers=sent)
        except httpx.TimeoutException:
            return None, f"timeout after {self.config.timeout_s} s", None
        except httpx.HTTPError as err:
            return None, f"{type(err).__name__}: {err}", None
        wait = retry_after_s(response.headers.get("Retry-After"), now)
        return response.status_code, f"HTTP {response.status_code}", wait

    def _dead_letter(self, item: Delivery, reason: str, attempts: int) -> None:
        self.dead_lettered += 1
        path = self.config.dead_letter_file
        if path is None:  # logged once per target (a shutdown may give up on thousands)
            if self.dead_lettered == 1:
                log.warning("webhook %s: %s not delivered (%s); no dead_letter_file: "
                            "further ones are only counted", self.label, item.type,
                            reason)  # fmt: skip
            return
        head = json.dumps({"url": self.config.url, "type": item.type, "seq": item.seq,
                           "reason": reason, "attempts": attempts,
                           "failed_at": round(self._clock(), 3)})  # fmt: skip
        line = f'{head[:-1]}, "event": {item.body}}}\n'
        try:
            with _DEAD_LETTER_LOCK:
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "a", encoding="utf-8") as out:
                    out.write(line)
        except OSError as err:
            log.error("webhook %s: cannot write dead letter to %s (%s)", self.label, path,
                      err.strerror or err)  # fmt: skip


class Webhooks:
    """Every configured target; :meth:`on_event` fans an event out to their queues."""

    def __init__(self, configs: Iterable[WebhookConfig]) -> None:
        self.targets: list[WebhookTarget] = []
        labels: set[str] = set()
        for config in configs:  # a second target on the same host is "host#2"
            label, n = config.label, 1
            while label in labels:
                n += 1
                label = f"{config.label}#{n}"
            labels.add(label)
            self.targets.append(WebhookTarget(config, label=label))
        self._book = PartyBook()  # party order for the deepgram targets
        self._book_lock = threading.Lock()  # on_event comes from several pipeline threads

    def start(self) -> None:
        for target in self.targets:
            target.start()

    def on_event(self, event: Any) -> None:
        """Queue ``event`` (its one JSON text) for each target that wants it."""
        body = event.to_json()
        party = getattr(event, "party", None)
        rendered: tuple[bytes, ...] | None = None
        wanted = [t for t in self.targets if t.config.format == "deepgram"
                  and t.config.wants(event.type, party)]  # fmt: skip
        for target in self.targets:
            if target.config.format != "deepgram":
                target.offer(event.type, party, body)
            elif rendered is None:  # once for all deepgram targets
                rendered = self._render(event.type, event.call_id, party, body, bool(wanted))
        for target in wanted:
            target.offer(event.type, party, *(rendered or ()))

    def _render(
        self, type_: str, call_id: str, party: str | None, body: str, wanted: bool
    ) -> tuple[bytes, ...]:
        """An event as Deepgram messages (``wanted``: by some target), once for all."""
        with self._book_lock:  # party order counts every event, rendered or not
            self._book.observe(call_id, type_, party)
            if not wanted or type_ not in ("transcript.partial", "transcript.final",
                                           "call.ended"):  # fmt: skip
                return ()  # a Deepgram client has no message for it: no JSON parse
            return messages(body, self._book)

    def close(self, drain_s: float = 5.0) -> None:
        """Stop taking events; each target drains for up to ``drain_s`` (in parallel)."""
        closers = [threading.Thread(target=t.close, args=(drain_s,)) for t in self.targets]
        for closer in closers:
            closer.start()
        for closer in closers:
            closer.join()

    def counters(self) -> dict[str, int]:
        """Summed over the targets: delivered, retried, dropped, dead_lettered, queued."""
        names = ("delivered", "retried", "dropped", "dead_lettered", "queued")
        return {name: sum(getattr(t, name) for t in self.targets) for name in names}

    def figures(self) -> tuple[WebhookFigures, ...]:
        """Per target, for ``/metrics`` (labelled by name or host[:port])."""
        return tuple(t.figures() for t in self.targets)

    def wants_partials(self, party: str) -> bool:
        """Whether a target takes this party's ``transcript.partial`` events."""
        return any(t.config.wants("transcript.partial", party) for t in self.targets)
