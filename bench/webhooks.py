"""Webhook delivery delay: 10 targets on localhost, one of them dead (never answers).

Prints one JSON line: the delay from ``Webhooks.on_event`` to the receiver's
handler (p50/p95 ms, over the live targets), the cost of ``on_event`` itself
(p50/p95 us, what the pipeline thread pays) and the dead target's counters.

    PYTHONPATH=. python bench/webhooks.py [--events 300] [--rate 100] [--dead 0|1]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from records.events import TranscriptFinal
from sinks.webhook_policy import WebhookConfig
from sinks.webhooks import Webhooks


def receiver(arrived: dict[str, float] | None, release: threading.Event):  # type: ignore[no-untyped-def]
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            if arrived is None:
                release.wait()  # the dead target: never answers
            else:
                arrived[body] = time.monotonic()
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()  # fmt: skip
    return server


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--dead", type=int, default=1, choices=(0, 1), help="dead targets")
    parser.add_argument("--rate", type=float, default=100.0, help="events per second")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    release = threading.Event()
    live = [{} for _ in range(10 - args.dead)]  # type: list[dict[str, float]]
    servers = [receiver(None, release)] * args.dead + [receiver(a, release) for a in live]
    configs = [WebhookConfig(f"http://127.0.0.1:{s.server_address[1]}/", timeout_s=2.0,
                             max_retries=1, backoff_initial_s=0.1, secret=b"bench")
               for s in servers]  # fmt: skip
    hooks = Webhooks(configs)
    hooks.start()
    sent: dict[str, float] = {}
    costs = []
    for n in range(args.events):
        event = TranscriptFinal("bench", "agent", f"s{n}", n, n + 1.0, f"words {n}", n + 1.0)
        body = event.to_json()
        start = time.monotonic()
        sent[body] = start
        hooks.on_event(event)
        costs.append(time.monotonic() - start)
        time.sleep(1 / args.rate)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(map(len, live)) < len(live) * args.events:
        time.sleep(0.01)
    delays = [(a[body] - sent[body]) * 1000 for a in live for body in a]
    names = ("delivered", "retried", "dropped", "dead_lettered", "queued")
    counters = {k: getattr(hooks.targets[0], k) for k in names} if args.dead else None
    release.set()
    hooks.close(drain_s=0.1)
    for server in servers:
        server.shutdown()
    print(json.dumps({
        "bench": "webhooks", "targets": 10, "dead_targets": args.dead, "events": args.events,
        "rate_per_s": args.rate, "delivered_live": len(delays),
        "delay_ms_p50": round(pct(delays, 50), 2), "delay_ms_p95": round(pct(delays, 95), 2),
        "on_event_us_p50": round(pct(costs, 50) * 1e6, 1),
        "on_event_us_p95": round(pct(costs, 95) * 1e6, 1), "dead_target": counters,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
