"""Card data never leaves through any output: websocket, archive, terminal, listeners."""

from __future__ import annotations

import io
import json

from listenin.service import Outputs
from pipeline.redact import RedactionConfig
from records.events import (
    CallEnded,
    CallStarted,
    PartyJoined,
    PartyLeft,
    TranscriptFinal,
    TranscriptPartial,
    Word,
)
from sinks.archive import ArchiveConfig
from sinks.server import ServerConfig
from sinks.terminal import JsonlRenderer

from .subscribed import publish_to_a_client

CARD = "4532 0151 1283 0366"


def _final(seg, text, start):
    words = tuple(
        Word(t, start + k * 0.3, start + k * 0.3 + 0.25, 0.9) for k, t in enumerate(text.split())
    )
    return TranscriptFinal(
        "c1", "caller", seg, start, words[-1].end, text, words[-1].end + 0.2, words
    )


EVENTS = [
    CallStarted("c1", 0.0),
    PartyJoined("c1", "caller", 8000, 0.0),
    TranscriptPartial("c1", "caller", "s1", 0.0, 2.0, "my card is 4532 0151 1283", 2.1),
    _final("s1", f"my card is {CARD} expires 12/26 and the CVV is 123", 0.0),
    _final("s2", "order 555 867 5309 please", 6.0),
    PartyLeft("c1", "caller", 9.0),
    CallEnded("c1", 9.1, 9.0),
]


def test_no_output_sees_the_card(tmp_path):
    terminal = io.StringIO()
    outputs = Outputs(ServerConfig(port=0, stats_interval_s=0), ArchiveConfig(tmp_path),
                      renderer=JsonlRenderer(terminal))  # fmt: skip
    heard = []
    outputs.add_listener(heard.append)
    got = publish_to_a_client(outputs, EVENTS)
    redactions = [m for m in got if m["type"] == "redaction"]
    assert [(m["kind"], m["segment_id"]) for m in redactions] == [
        ("card", "s1"), ("expiry", "s1"), ("cvv", "s1")]  # fmt: skip
    assert redactions[0]["start"] == 0.9 and redactions[0]["end"] == 2.05  # the card's words
    final = next(m for m in got if m["type"] == "transcript.final")
    assert final["text"] == "my card is [card] expires [expiry] and the CVV is [cvv]"
    assert [w["text"] for w in final["words"]][3] == "[card]"
    partial = next(m for m in got if m["type"] == "transcript.partial")
    assert partial["text"] == "my card is [card?]"
    (jsonl,) = tmp_path.rglob("transcript.jsonl")
    (text,) = tmp_path.rglob("transcript.txt")
    shown = [json.dumps(got), terminal.getvalue(), jsonl.read_text(), text.read_text(),
             "".join(e.to_json() for e in heard)]  # fmt: skip
    for out in shown:
        for secret in ("4532", "0151", "1283", "0366", "12/26", " 123"):
            assert secret not in out
    assert "555 867 5309" in text.read_text()  # an ordinary number stays
    assert sum('"type": "redaction"' in line for line in jsonl.read_text().splitlines()) == 3


def test_redaction_off_passes_events_untouched():
    outputs = Outputs(redaction=RedactionConfig(cards=False))
    heard = []
    outputs.add_listener(heard.append)
    outputs.on_event(EVENTS[3])
    assert heard == [EVENTS[3]]
