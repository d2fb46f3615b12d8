"""Webhooks: every event POSTed as JSON to each configured HTTP target.

One worker thread and one ``httpx.Client`` per target (:class:`WebhookTarget`);
:meth:`Webhooks.on_event` only queues, so a slow or dead receiver never delays
the audio path, the pipeline or another target.  Each target's queue is bounded
(``queue_events``, then ``drop_partials_first``: the oldest partial, else the
oldest event).  An attempt that times out, cannot connect or gets a 5xx is
retried after ``backoff_initial_s``, doubled each time up to ``backoff_max_s``,
``max_retries`` times; a 4xx (or other non-2xx) answer is not retried.  What
could not be delivered goes to the dead-letter file, one JSON line per event.
The signing, the schedule and the queue are sans-I/O in :mod:`sinks.webhook_policy`.

Counters (``delivered``, ``retried``, ``dropped``, ``dead_lettered``) are plain
attributes of each target, summed by :meth:`Webhooks.counters`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx

from .webhook_policy import (
    Delivery,
    DeliveryQueue,
    Outcome,
    WebhookConfig,
    backoff_s,
    headers,
    outcome,
)

log = logging.getLogger(__name__)
_DEAD_LETTER_LOCK = threading.Lock()  # targets may share one dead-letter file


class WebhookTarget:
    """One receiver: its bounded queue, its worker thread, its counters."""

    def __init__(self, config: WebhookConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self._queue = DeliveryQueue(config.queue_events)
        self._cond = threading.Condition()
        self._closing = False
        self._abort = threading.Event()  # set when close() stops waiting: no more retries
        self.delivered = 0  # answered 2xx
        self.retried = 0  # attempts after a first one
        self.dropped = 0  # pushed out of the full queue
        self.dead_lettered = 0  # given up on (written to the dead-letter file, if any)
        host = urlsplit(config.url).hostname
        self._thread = threading.Thread(target=self._run, name=f"webhook {host}", daemon=True)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._thread.start()

    def offer(self, event_type: str, party: str | None, body: str) -> None:
        """Queue an event if this target wants it; never blocks on the network."""
        if not self.config.wants(event_type, party):
            return
        with self._cond:
            if self._closing:
                return
            if self._queue.push(Delivery(event_type, body)) is not None:
                self.dropped += 1
            self._cond.notify()

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
            log.warning("webhook %s: %d event(s) not delivered, %d dropped", self.config.url,
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
            status, reason = self._attempt(client, item)
            result = outcome(status)
            if result is Outcome.DELIVERED:
                self.delivered += 1
                return
            if result is Outcome.GIVE_UP or retry >= self.config.max_retries:
                self._dead_letter(item, reason, retry + 1)
                return
            retry += 1
            if self._abort.wait(backoff_s(self.config, retry)):
                self._dead_letter(item, f"{reason} (then shutdown)", retry)
                return
            self.retried += 1

    def _attempt(self, client: httpx.Client, item: Delivery) -> tuple[int | None, str]:
        sent = headers(item.type, item.body, int(self._clock()), self.config.secret)
        try:
            response = client.post(self.config.url, content=item.body.encode(), headers=sent)
        except httpx.TimeoutException:
            return None, f"timeout after {self.config.timeout_s} s"
        except httpx.HTTPError as err:
            return None, f"{type(err).__name__}: {err}"
        return response.status_code, f"HTTP {response.status_code}"

    def _dead_letter(self, item: Delivery, reason: str, attempts: int) -> None:
        self.dead_lettered += 1
        path = self.config.dead_letter_file
        if path is None:  # logged once per target (a shutdown may give up on thousands)
            if self.dead_lettered == 1:
                log.warning("webhook %s: %s not delivered (%s); no dead_letter_file: "
                            "further ones are only counted", self.config.url, item.type,
                            reason)  # fmt: skip
            return
        head = json.dumps({"url": self.config.url, "type": item.type, "reason": reason,
                           "attempts": attempts, "failed_at": round(self._clock(), 3)})  # fmt: skip
        line = f'{head[:-1]}, "event": {item.body}}}\n'
        try:
            with _DEAD_LETTER_LOCK:
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "a", encoding="utf-8") as out:
                    out.write(line)
        except OSError as err:
            log.error("webhook %s: cannot write dead letter to %s (%s)", self.config.url, path,
                      err.strerror or err)  # fmt: skip


class Webhooks:
    """Every configured target; :meth:`on_event` fans an event out to their queues."""

    def __init__(self, configs: Iterable[WebhookConfig]) -> None:
        self.targets = [WebhookTarget(config) for config in configs]

    def start(self) -> None:
        for target in self.targets:
            target.start()

    def on_event(self, event: Any) -> None:
        """Queue ``event`` (its one JSON text) for each target that wants it."""
        body = event.to_json()
        party = getattr(event, "party", None)
        for target in self.targets:
            target.offer(event.type, party, body)

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

    def wants_partials(self, party: str) -> bool:
        """Whether a target takes this party's ``transcript.partial`` events."""
        return any(t.config.wants("transcript.partial", party) for t in self.targets)
