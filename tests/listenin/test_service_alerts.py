"""A phrase alert follows its final to a websocket client, the archive and the terminal."""

from __future__ import annotations

import io
import json

from listenin.service import Outputs
from pipeline.alerts import AlertRule
from records.events import CallEnded, CallStarted, PartyJoined, PartyLeft, TranscriptFinal, Word
from sinks.archive import ArchiveConfig
from sinks.server import ServerConfig
from sinks.terminal import JsonlRenderer

from .subscribed import publish_to_a_client


def test_an_alert_reaches_the_client_the_archive_and_the_terminal(tmp_path):
    rules = (AlertRule("cancel", phrases=("cancel my account",), party="customer"),
             AlertRule("agent-only", phrases=("cancel",), party="agent"))  # fmt: skip
    terminal = io.StringIO()
    outputs = Outputs(ServerConfig(port=0, stats_interval_s=0), ArchiveConfig(tmp_path),
                      renderer=JsonlRenderer(terminal), alerts=rules)  # fmt: skip
    spoken = "Please cancel my account".split()
    words = tuple(Word(w, 1.0 + i, 1.4 + i, 0.9) for i, w in enumerate(spoken))
    events = [
        CallStarted("c1", 0.0),
        PartyJoined("c1", "customer", 8000, 0.0),
        TranscriptFinal("c1", "customer", "s1", 1.0, 4.4, "Please cancel my account.", 5.0, words),
        TranscriptFinal("c1", "customer", "s2", 5.0, 6.0, "thanks", 6.5),
        PartyLeft("c1", "customer", 7.0),
        CallEnded("c1", 7.1, 7.0),
    ]
    got = publish_to_a_client(outputs, events)
    kinds = [m["type"] for m in got]
    assert kinds == ["call.started", "party.joined", "transcript.final", "alert",
                     "transcript.final", "party.left", "call.ended"]  # fmt: skip
    alert = {k: v for k, v in got[3].items() if k != "seq"}
    assert alert == {"type": "alert", "call_id": "c1", "party": "customer", "rule": "cancel",
                     "segment_id": "s1", "text": "Please cancel my account.",
                     "matched": "cancel my account", "start": 2.0, "end": 4.4,
                     "emitted_at": 5.0}  # fmt: skip
    (jsonl,) = tmp_path.rglob("transcript.jsonl")
    lines = [json.loads(x) for x in jsonl.read_text(encoding="utf-8").splitlines()]
    assert [x["type"] for x in lines][:2] == ["transcript.final", "alert"]
    assert lines[1] == alert
    (text,) = tmp_path.rglob("transcript.txt")
    assert "! alert cancel: cancel my account" in text.read_text()
    assert [json.loads(x)["type"] for x in terminal.getvalue().splitlines()].count("alert") == 1


def test_transcribes_call_clock_order_keeps_an_alert_after_its_final():
    from records.events import Alert
    from sinks.terminal import CallClockOrder

    seen: list = []
    order = CallClockOrder(seen.append)
    late = TranscriptFinal("c1", "agent", "agent-1", 5.0, 6.0, "later", 7.0)
    early = TranscriptFinal("c1", "customer", "customer-1", 1.0, 2.0, "refund", 8.0)
    alert = Alert("c1", "customer", "r", "customer-1", "refund", "refund", 1.0, 2.0, 8.0)
    for event in (late, early, alert, CallEnded("c1", 9.0, 9.0)):
        order(event)
    assert [e.type for e in seen] == ["transcript.final", "alert", "transcript.final", "call.ended"]
    assert seen[0] is early and seen[1] is alert
