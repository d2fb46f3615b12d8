"""Webhooks against real HTTP receivers (stdlib http.server): signatures, retries,
a hanging receiver, the dead-letter file and the queue's drop policy."""

import hashlib
import hmac
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from records.events import CallEnded, TranscriptFinal, TranscriptPartial
from sinks.webhook_policy import WebhookConfig
from sinks.webhooks import Webhooks, WebhookTarget
from tests.waiting import wait_until

SECRET = b"test-secret-0123456789"
FAST = {"backoff_initial_s": 0.001, "backoff_max_s": 0.002, "timeout_s": 5.0}


class Receiver:
    """An HTTP receiver: checks signatures, answers ``fail_first`` 500s per body, or hangs."""

    def __init__(self, fail_first: int = 0, status: int = 200, hang: bool = False) -> None:
        self.fail_first, self.status, self.hang = fail_first, status, hang
        self.release = threading.Event()
        self.tries: dict[str, int] = {}
        self.accepted: list[str] = []  # bodies answered 2xx, in order
        self.bad_signatures = 0
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
        if self.hang:
            self.release.wait()
        stamp = handler.headers["X-Listenin-Timestamp"]
        mac = hmac.new(SECRET, f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
        with self.lock:
            if handler.headers.get("X-Listenin-Signature") != f"sha256={mac}":
                self.bad_signatures += 1
            self.tries[body] = self.tries.get(body, 0) + 1
            status = 500 if self.tries[body] <= self.fail_first else self.status
            if 200 <= status < 300:
                self.accepted.append(body)
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

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


def test_events_and_parties_filter(receivers):
    receiver = receivers()
    hooks = Webhooks([config(receiver.url, events=("transcript.final",), parties=("agent",))])
    hooks.start()
    for event in (final(0), final(1, "customer"), partial(2), CallEnded("c1", 9.0, 9.0)):
        hooks.on_event(event)
    hooks.close(drain_s=30)
    assert receiver.accepted == [final(0).to_json()]
