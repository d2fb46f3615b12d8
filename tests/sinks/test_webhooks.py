"""Webhooks against real HTTP receivers (stdlib http.server): signatures, retries
(500s, 429 with Retry-After, a hang), the per-target seq, a hanging receiver, the
dead-letter file, the queue's drop policy and the Deepgram format."""

import hashlib
import hmac
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from records.events import (
    CallEnded,
    CallStarted,
    PartyJoined,
    TranscriptFinal,
    TranscriptPartial,
    Word,
)
from sinks.webhook_policy import WebhookConfig
from sinks.webhooks import Webhooks, WebhookTarget
from tests.waiting import wait_until

SECRET = b"test-secret-0123456789"
FAST = {"backoff_initial_s": 0.001, "backoff_max_s": 0.002, "timeout_s": 5.0}


class Receiver:
    """An HTTP receiver: checks signatures, answers ``fail_first`` 500s per body, or hangs;
    ``script``: per body, the answer to its first attempts ("500", "429", "hang")."""

    def __init__(
        self,
        fail_first: int = 0,
        status: int = 200,
        hang: bool = False,
        script: tuple[str, ...] = (),
        retry_after: str = "1",
    ) -> None:
        self.fail_first, self.status, self.hang = fail_first, status, hang
        self.script, self.retry_after = script, retry_after
        self.release = threading.Event()
        self.tries: dict[str, int] = {}
        self.accepted: list[str] = []  # bodies answered 2xx, in order
        self.accepted_seqs: list[str] = []  # their X-Listenin-Seq
        self.accepted_events: list[str] = []  # their X-Listenin-Event
        self.attempts: list[tuple[str, str, str, float]] = []  # body, seq, answer, monotonic s
        self.bad_signatures = 0
        self.arrived = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.answer(self, body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def answer(self, handler: BaseHTTPRequestHandler, body: str) -> None:
        with self.lock:
            self.arrived += 1  # requests read, answered or not
        if self.hang:
            self.release.wait()
        stamp = handler.headers["X-Listenin-Timestamp"]
        seq = handler.headers["X-Listenin-Seq"]
        mac = hmac.new(SECRET, f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
        with self.lock:
            if handler.headers.get("X-Listenin-Signature") != f"sha256={mac}":
                self.bad_signatures += 1
            self.tries[body] = self.tries.get(body, 0) + 1
            n = self.tries[body]
            status = 500 if n <= self.fail_first else self.status
            act = self.script[n - 1] if n <= len(self.script) else str(status)
            self.attempts.append((body, seq, act, time.monotonic()))
            if act == str(status) and 200 <= status < 300:
                self.accepted.append(body)
                self.accepted_seqs.append(seq)
                self.accepted_events.append(handler.headers["X-Listenin-Event"])
        if act == "hang":  # the client times out; this answer goes nowhere
            self.release.wait()
            act = "500"
        try:
            handler.send_response(int(act))
            if act == "429":
                handler.send_header("Retry-After", self.retry_after)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        except OSError:
            pass  # the client gave up on a hung answer

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(**kwargs) -> Receiver:
        made.append(Receiver(**kwargs))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def final(n: int, party: str = "agent") -> TranscriptFinal:
    return TranscriptFinal("c1", party, f"s{n}", n, n + 1.0, f"final {n}", n + 1.0)


def partial(n: int) -> TranscriptPartial:
    return TranscriptPartial("c1", "agent", f"s{n}", n, n + 0.5, f"partial {n}", n + 0.5)


def config(url: str, **kwargs) -> WebhookConfig:
    return WebhookConfig(url, **{**FAST, "secret": SECRET, **kwargs})


def test_every_final_is_delivered_once_after_500s(receivers):
    receiver = receivers(fail_first=2)
    hooks = Webhooks([config(receiver.url, max_retries=3)])
    hooks.start()
    events = [final(n) for n in range(5)] + [CallEnded("c1", 9.0, 9.0)]
    for event in events:
        hooks.on_event(event)
    hooks.close(drain_s=30)
    assert receiver.accepted == [e.to_json() for e in events]  # each once, in order
    assert receiver.bad_signatures == 0
    assert hooks.counters() == {"delivered": 6, "retried": 12, "dropped": 0,
                                "dead_lettered": 0, "queued": 0}  # fmt: skip


def test_a_hanging_receiver_does_not_delay_another_target(receivers):
    stuck, good = receivers(hang=True), receivers()
    hooks = Webhooks([config(stuck.url, timeout_s=60), config(good.url)])
    hooks.start()
    events = [final(n) for n in range(20)]
    for event in events:
        hooks.on_event(event)  # returns at once although one receiver never answers
    wait_until(lambda: len(good.accepted) == 20, "the good receiver got every event", 30)
    assert not stuck.release.is_set() and hooks.targets[0].delivered == 0
    stuck.release.set()
    hooks.close(drain_s=30)
    assert good.accepted == [e.to_json() for e in events]
    assert stuck.accepted == [e.to_json() for e in events]


def test_dead_letter_file_after_the_retries(receivers, tmp_path):
    receiver = receivers(fail_first=1000)
    dead = tmp_path / "dead.jsonl"
    hooks = Webhooks([config(receiver.url, max_retries=2, dead_letter_file=dead)])
    hooks.start()
    events = [final(0), CallEnded("c1", 9.0, 9.0)]
    for event in events:
        hooks.on_event(event)
    hooks.close(drain_s=30)
    lines = [json.loads(line) for line in dead.read_text().splitlines()]
    assert [line["event"] for line in lines] == [json.loads(e.to_json()) for e in events]
    assert {(line["attempts"], line["reason"], line["url"]) for line in lines} == {
        (3, "HTTP 500", receiver.url)}  # fmt: skip
    assert receiver.tries == {e.to_json(): 3 for e in events}
    target = hooks.targets[0]
    assert (target.delivered, target.retried, target.dead_lettered) == (0, 4, 2)


def test_a_4xx_is_not_retried(receivers, tmp_path):
    receiver = receivers(status=400)
    dead = tmp_path / "dead.jsonl"
    hooks = Webhooks([config(receiver.url, max_retries=5, dead_letter_file=dead)])
    hooks.start()
    hooks.on_event(final(0))
    hooks.close(drain_s=30)
    assert receiver.tries == {final(0).to_json(): 1}
    assert json.loads(dead.read_text())["attempts"] == 1
    assert hooks.targets[0].retried == 0


def test_a_dead_port_is_retried_then_dead_lettered(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = tmp_path / "dead.jsonl"
    target = WebhookTarget(config(f"http://127.0.0.1:{port}/", max_retries=2,
                                  dead_letter_file=dead))  # fmt: skip
    target.start()
    target.offer("transcript.final", "agent", final(0).to_json())
    target.close(drain_s=30)
    assert (target.retried, target.dead_lettered) == (2, 1)
    assert json.loads(dead.read_text())["attempts"] == 3


def test_the_full_queue_drops_partials_first(receivers):
    receiver = receivers()
    target = WebhookTarget(config(receiver.url, queue_events=3))  # not started: nothing drains
    for event in (final(0), partial(1), partial(2), final(3), final(4), final(5)):
        target.offer(event.type, event.party, event.to_json())
    assert (target.dropped, target.queued) == (3, 3)  # p1, p2, then the oldest final
    target.start()
    target.close(drain_s=30)
    assert receiver.accepted == [final(n).to_json() for n in (3, 4, 5)]
    assert receiver.accepted_seqs == ["4", "5", "6"]  # the receiver sees the gap 1..3


def test_events_and_parties_filter(receivers):
    receiver = receivers()
    hooks = Webhooks([config(receiver.url, events=("transcript.final",), parties=("agent",))])
    hooks.start()
    for event in (final(0), final(1, "customer"), partial(2), CallEnded("c1", 9.0, 9.0)):
        hooks.on_event(event)
    hooks.close(drain_s=30)
    assert receiver.accepted == [final(0).to_json()]


def test_500_429_and_a_hang_each_message_delivered_once_numbered_in_order(receivers):
    receiver = receivers(script=("500", "429", "hang"), retry_after="1")
    hooks = Webhooks([config(receiver.url, max_retries=3, timeout_s=0.5)])
    hooks.start()
    events = [final(0), final(1), CallEnded("c1", 9.0, 9.0)]
    for event in events:
        hooks.on_event(event)  # returns at once: the worker does the waiting
    hooks.close(drain_s=120)
    bodies = [e.to_json() for e in events]
    assert receiver.accepted == bodies  # each once, in order
    assert receiver.accepted_seqs == ["1", "2", "3"]
    answers = [(b, s, a) for b, s, a, _ in receiver.attempts]
    assert answers == [(b, str(n), a) for n, b in enumerate(bodies, 1)
                       for a in ("500", "429", "hang", "200")]  # fmt: skip
    assert hooks.counters() == {"delivered": 3, "retried": 9, "dropped": 0,
                                "dead_lettered": 0, "queued": 0}  # fmt: skip
    # Retry-After: 1 was waited although the backoff is 2 ms at most (a lower bound:
    # load can only make the gap longer)
    at = {(b, a): t for b, _, a, t in receiver.attempts}
    assert all(at[(b, "hang")] - at[(b, "429")] >= 1.0 for b in bodies)


def test_a_deepgram_target_gets_the_websocket_deepgram_messages(receivers):
    ours, deepgram = receivers(), receivers()
    kinds = ("transcript.partial", "transcript.final", "call.ended")  # joins still number
    hooks = Webhooks([config(ours.url), config(deepgram.url, format="deepgram", events=kinds)])
    hooks.start()
    words = (Word("Cancel", 2.0, 2.4, 0.9), Word("it.", 2.4, 2.8, 0.7))
    said = TranscriptFinal("c1", "customer", "customer-0", 2.0, 2.8, "Cancel it.", 3.1, words)
    events = [CallStarted("c1", 0.0), PartyJoined("c1", "agent", 8000, 0.0),
              PartyJoined("c1", "customer", 8000, 0.1), partial(1), said,
              CallEnded("c1", 9.0, 9.0)]  # fmt: skip
    for event in events:
        hooks.on_event(event)
    hooks.close(drain_s=30)
    assert ours.accepted == [e.to_json() for e in events]
    got = [json.loads(body) for body in deepgram.accepted]
    assert [m["type"] for m in got] == ["Results", "Results", "UtteranceEnd", "Metadata"]
    assert deepgram.accepted_events == ["transcript.partial", "transcript.final",
                                        "transcript.final", "call.ended"]  # fmt: skip
    assert deepgram.accepted_seqs == ["1", "2", "3", "4"]
    interim, result, end, meta = got
    assert interim["is_final"] is False and interim["channel_index"] == [0, 2]
    assert result["is_final"] and result["speech_final"] and result["channel_index"] == [1, 2]
    alt = result["channel"]["alternatives"][0]
    assert alt["transcript"] == "Cancel it." and alt["confidence"] == 0.8
    assert [(w["word"], w["punctuated_word"]) for w in alt["words"]] == [
        ("cancel", "Cancel"), ("it", "it.")]  # fmt: skip
    assert result["metadata"]["request_id"] == "c1"
    assert end == {"type": "UtteranceEnd", "channel": [1, 2], "last_word_end": 2.8}
    assert meta["request_id"] == "c1" and meta["channels"] == 2 and meta["duration"] == 9.0
    assert deepgram.bad_signatures == 0


def test_targets_on_one_host_get_distinct_labels():
    hooks = Webhooks([config("http://h.example:81/a?k=1"), config("http://h.example:81/b"),
                      config("http://h.example:81/c", name="crm")])  # fmt: skip
    assert [t.label for t in hooks.targets] == ["h.example:81", "h.example:81#2", "crm"]
