"""Benchmark: what health, metrics and the call log lines cost per call.

``python -m bench.observe [--calls 1000]`` feeds the records of ``--calls`` calls
of 60 s (two parties on two per-party SIP legs: answered, a stats report every
5 s per party, 120 partials, 20 finals, joined/left/started/ended) through the
:class:`~listenin.observe.Observer` and the :class:`~listenin.calls.CallLog`
(``--log-format json`` into /dev/null, secrets being blanked), then renders
``/metrics`` and ``/readyz``.  Prints the CPU time per call of each and per
scrape, and one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time

from listenin.calls import CallLog
from listenin.logs import CALLS_LOGGER, setup_logging
from listenin.observe import Observer
from records.device import LegAnswered, LegEnded, StreamLabel, StreamStats
from records.events import (
    CallEnded,
    CallStarted,
    PartyJoined,
    PartyLeft,
    TranscriptFinal,
    TranscriptPartial,
)
from sinks.stats import CallStatsBook

from .realtime import machine

PARTIES = ("agent", "customer")


def device_records(n: int) -> list:  # type: ignore[type-arg]
    call = f"bench-{n}"
    out: list = []  # type: ignore[type-arg]
    for k, party in enumerate(PARTIES):
        streams = (StreamLabel(0, f"{call}-{k}", party),)
        out.append(LegAnswered(f"{n}.{k}", call, streams, "127.0.0.1:5060", "headers", 0.3))
    for tick in range(12):
        for party in PARTIES:
            out.append(StreamStats(call, party, "PCMU", 250 * tick, 1, 0, 0, 0, 2.0, 160, 1, 0, 0,
                                   0))  # fmt: skip
    for k, party in enumerate(PARTIES):
        out.append(LegEnded(f"{n}.{k}", call, (party,), "BYE from remote"))
    return out


def events(n: int) -> list:  # type: ignore[type-arg]
    call = f"bench-{n}"
    out: list = [CallStarted(call, 0.0)]  # type: ignore[type-arg]
    out += [PartyJoined(call, party, 8000, 0.0) for party in PARTIES]
    for k in range(20):
        party = PARTIES[k % 2]
        start = 3.0 * k
        for r in range(6):
            out.append(TranscriptPartial(call, party, f"{party}-{k}", start, start + 0.5 * r,
                                         "some words so far", start + 0.5 * r, r))  # fmt: skip
        out.append(TranscriptFinal(call, party, f"{party}-{k}", start, start + 2.5,
                                   "the whole sentence as it was said", start + 3.2))  # fmt: skip
    out += [PartyLeft(call, party, 60.0) for party in PARTIES]
    out.append(CallEnded(call, 60.0, 60.0))
    return out


def cpu() -> float:
    return time.process_time()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=1000)
    p.add_argument("--scrapes", type=int, default=200)
    args = p.parse_args()
    os.environ.setdefault("LISTENIN_WS_TOKEN", "bench-token-0123456789")
    with open(os.devnull, "w") as sink:
        setup_logging(0, "json", sink)
        calls = [(device_records(n), events(n)) for n in range(args.calls)]
        observer, log = Observer(CallStatsBook()), CallLog(logging.getLogger(CALLS_LOGGER))
        t0 = cpu()
        for records, evs in calls:
            for r in records:
                observer.on_device_event(r)
            for e in evs:
                observer.on_event(e)
        t1 = cpu()
        now = 0.0
        for records, _ in calls:
            for r in records:
                if isinstance(r, LegAnswered):
                    log.answered(r, now)
                elif isinstance(r, StreamStats):
                    log.stats(r)
                elif isinstance(r, LegEnded):
                    log.leg_ended(r, r.session_id, r.leg.endswith(".1"), now + 60.0)
        t2 = cpu()
        routes = observer.routes()
        for _ in range(args.scrapes):
            routes["/metrics"]()
        t3 = cpu()
        for _ in range(args.scrapes):
            routes["/readyz"]()
        t4 = cpu()
    result = {
        "calls": args.calls,
        "metrics_cpu_us_per_call": round((t1 - t0) / args.calls * 1e6, 1),
        "call_log_cpu_us_per_call": round((t2 - t1) / args.calls * 1e6, 1),
        "metrics_scrape_cpu_ms": round((t3 - t2) / args.scrapes * 1e3, 3),
        "readyz_cpu_ms": round((t4 - t3) / args.scrapes * 1e3, 3),
        "machine": machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
