"""Added CPU per call of the agent-assist and compliance outputs (issue 15).

One call's events, shaped like the pipeline's on the real-speech fixture call2
(its reference utterances: a partial every 500 ms of each, then the final with
word times), go through :class:`~listenin.service.Outputs` twice: bare (no
webhooks, no alerts, no redaction) and with card redaction, three phrase alerts
and two webhook targets on a local receiver in another process (one ``listenin``,
one ``deepgram`` format, signed).  The process CPU (every thread: the pipeline thread's share and
the webhook workers') per call is the difference.  Prints one JSON line.

    PYTHONPATH=. python -m bench.outputs [--calls 20]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from listenin.service import Outputs
from pipeline.alerts import AlertRule
from pipeline.redaction import RedactionConfig
from records.events import (
    CallEnded,
    CallStarted,
    Event,
    PartyJoined,
    PartyLeft,
    TranscriptFinal,
    TranscriptPartial,
    Word,
)
from sinks.webhook_policy import WebhookConfig

from .webhooks import receiver

ROOT = Path(__file__).resolve().parents[1]
RULES = (
    AlertRule("cancel", phrases=("cancel my account",), party="customer"),
    AlertRule("promise", phrases=("i guarantee", "i promise"), party="agent"),
    AlertRule("money", regex=r"\b(refund|money back)\b"),
)


def call_events(call_id: str, utterances: list[dict]) -> list[Event]:
    """The events of one call, as the pipeline emits them (partials every 0.5 s)."""
    out: list[Event] = [CallStarted(call_id, 0.0)]
    out += [PartyJoined(call_id, p, 8000, 0.0) for p in sorted({u["party"] for u in utterances})]
    for n, u in enumerate(utterances):
        seg, words = f"{u['party']}-{n}", u["text"].split()
        start, end = float(u["start"]), float(u["end"])
        step = (end - start) / max(len(words), 1)
        t, rev = start + 0.5, 0
        while t < end:
            rev += 1
            shown = words[: max(1, int((t - start) / step))]
            out.append(TranscriptPartial(call_id, u["party"], seg, start, t, " ".join(shown), t,
                                         rev))  # fmt: skip
            t += 0.5
        timed = tuple(Word(w, start + i * step, start + (i + 1) * step, 0.9)
                      for i, w in enumerate(words))  # fmt: skip
        out.append(TranscriptFinal(call_id, u["party"], seg, start, end, u["text"], end + 0.3,
                                   timed))  # fmt: skip
    last = max(float(u["end"]) for u in utterances) + 1
    out += [PartyLeft(call_id, p, last) for p in sorted({u["party"] for u in utterances})]
    out.append(CallEnded(call_id, last, last))
    return out


def cpu_per_call(outputs: Outputs, calls: list[list[Event]]) -> float:
    """Process CPU seconds per call to hand ``calls`` to ``outputs`` and drain them."""
    outputs.start()
    t0 = time.process_time()
    for events in calls:
        for event in events:
            outputs.on_event(event)
    outputs.close()  # the webhook workers drain their queues before they stop
    return (time.process_time() - t0) / len(calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="calls per run (default 20)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:  # the receiver: prints its port, then how many posts came, at EOF
        arrived: dict[str, float] = {}
        server = receiver(arrived, threading.Event())
        print(server.server_address[1], flush=True)
        sys.stdin.read()
        print(len(arrived), flush=True)
        return
    logging.basicConfig(level=logging.WARNING)
    utterances = json.loads((ROOT / "fixtures" / "call2.json").read_text())["utterances"]
    calls = [call_events(f"bench-{n}", utterances) for n in range(args.calls)]
    events = sum(len(c) for c in calls) // len(calls)
    bare = cpu_per_call(Outputs(redaction=None), calls)
    masked = cpu_per_call(Outputs(alerts=RULES, redaction=RedactionConfig()), calls)
    serve = subprocess.Popen([sys.executable, "-m", "bench.outputs", "--serve"], cwd=ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert serve.stdout is not None and serve.stdin is not None
    url = f"http://127.0.0.1:{serve.stdout.readline().strip()}/hook"
    os.environ["BENCH_HOOK_SECRET"] = "s3cret"
    hooks = [WebhookConfig(url, secret_env="BENCH_HOOK_SECRET", secret=b"s3cret", name="plain"),
             WebhookConfig(url + "?dg=1", format="deepgram", name="deepgram")]  # fmt: skip
    full = cpu_per_call(Outputs(webhooks=hooks, alerts=RULES, redaction=RedactionConfig()), calls)
    serve.stdin.close()
    posted = int(serve.stdout.readline() or 0)
    serve.wait(10)
    print(
        f"{args.calls} calls of call2's shape, {events} events each: bare outputs "
        f"{bare * 1000:.1f} ms CPU per call, with redaction + 3 alerts "
        f"{masked * 1000:.1f} ms, and 2 webhooks {full * 1000:.1f} ms",
        flush=True,
    )
    print(json.dumps({"bench": "outputs", "calls": args.calls, "events_per_call": events,
                      "bare_cpu_ms_per_call": round(bare * 1000, 2),
                      "redaction_alerts_cpu_ms_per_call": round(masked * 1000, 2),
                      "full_cpu_ms_per_call": round(full * 1000, 2),
                      "added_cpu_ms_per_call": round((full - bare) * 1000, 2),
                      "posted": posted}))  # fmt: skip


if __name__ == "__main__":
    main()
