"""Our events as Deepgram live-streaming messages (sinks.deepgram), and a real client reading them.

``deepgram_client`` below is written against Deepgram's documented live
``Results`` shape (their SDK's ``LiveTranscriptionEvent``: the same keys and
types) and ``UtteranceEnd``; it must read what we send without special cases.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import connect

from records.events import PartyJoined, TranscriptFinal, TranscriptPartial, Word
from sinks.deepgram import DeepgramView, PartyBook, convert
from sinks.server import EventServer, ServerConfig

TOKEN = "s3cret-token-0123456789"

# Deepgram's documented live Results message: key -> type (nested shapes below)
RESULTS_KEYS = {
    "type": str,
    "channel_index": list,
    "duration": float,
    "start": float,  # fmt: skip
    "is_final": bool,
    "speech_final": bool,
    "channel": dict,
    "metadata": dict,
}
ALT_KEYS = {"transcript": str, "confidence": float, "words": list}
WORD_KEYS = {"word": str, "start": float, "end": float, "confidence": float,
             "punctuated_word": str}  # fmt: skip


def deepgram_client(msg: dict[str, Any]) -> tuple[str, Any]:
    """A client written against Deepgram's live API: returns what it understood."""
    if msg["type"] == "UtteranceEnd":
        assert isinstance(msg["channel"], list) and all(isinstance(c, int) for c in msg["channel"])
        assert isinstance(msg["last_word_end"], float)
        return "end", msg["last_word_end"]
    if msg["type"] != "Results":
        return msg["type"], None
    for key, kind in RESULTS_KEYS.items():
        assert isinstance(msg[key], kind), key
    assert len(msg["channel_index"]) == 2 and all(isinstance(i, int) for i in msg["channel_index"])
    assert isinstance(msg["metadata"]["request_id"], str)
    assert isinstance(msg["metadata"]["model_info"]["name"], str)
    alt = msg["channel"]["alternatives"][0]
    for key, kind in ALT_KEYS.items():
        assert isinstance(alt[key], kind), key
    for word in alt["words"]:
        for key, kind in WORD_KEYS.items():
            assert isinstance(word[key], kind), key
        assert isinstance(word.get("speaker", 0), int)
    kind = "final" if msg["is_final"] else "interim"
    return kind, (msg["channel_index"][0], alt["transcript"], msg["metadata"]["request_id"])


def as_dict(event) -> dict:
    return json.loads(event.to_json())


def final(call: str = "c1", party: str = "agent", text: str = " Hello, world.") -> TranscriptFinal:
    words = (Word(" Hello,", 1.0, 1.4, 0.9), Word(" world.", 1.5, 2.0, 0.7, speaker="speaker_1"))
    return TranscriptFinal(call, party, f"{party}-1", 1.0, 2.1, text, 2.5, words)


def test_a_final_becomes_results_and_utterance_end():
    book = PartyBook()
    book.see("c1", "customer")
    res, end = convert(as_dict(final()), book)
    assert deepgram_client(res) == ("final", (1, "Hello, world.", "c1"))
    assert res["channel_index"] == [1, 2] and res["speech_final"] is True
    assert res["duration"] == 1.1 and res["start"] == 1.0
    words = res["channel"]["alternatives"][0]["words"]
    assert [w["word"] for w in words] == ["hello", "world"]
    assert [w["punctuated_word"] for w in words] == ["Hello,", "world."]
    assert "speaker" not in words[0] and words[1]["speaker"] == 1
    assert res["channel"]["alternatives"][0]["confidence"] == 0.8
    assert deepgram_client(end) == ("end", 2.0)
    assert end["channel"] == [1, 2]


def test_a_partial_is_interim_results():
    (res,) = convert(as_dict(TranscriptPartial("c1", "agent", "agent-1", 0.5, 1.0, "hel", 1.0)),
                     PartyBook())  # fmt: skip
    assert deepgram_client(res) == ("interim", (0, "hel", "c1"))
    assert res["is_final"] is False and res["speech_final"] is False
    assert res["channel"]["alternatives"][0]["words"] == []


def test_other_events_are_dropped_or_metadata_and_replies_pass():
    book = PartyBook()
    assert convert(as_dict(PartyJoined("c1", "agent", 16000, 0.0)), book) == []
    meta = convert({"type": "call.ended", "call_id": "c1", "emitted_at": 9.0, "duration": 8.5},
                   book)[0]  # fmt: skip
    assert meta["type"] == "Metadata" and meta["request_id"] == "c1" and meta["duration"] == 8.5
    hello = {"type": "hello", "server": "listenin"}
    assert convert(hello, book) == [hello]


def test_party_book_numbers_in_join_order_and_is_bounded():
    book = PartyBook(max_calls=2)
    for call in ("a", "b", "c"):
        book.see(call, "agent")
        book.see(call, "customer")
    assert book.channel("c", "customer") == [1, 2]
    assert book.count("a") == 0  # forgotten: the oldest call
    assert book.channel("a", "customer") == [0, 1]


def test_the_view_renders_each_message_once():
    view = DeepgramView()
    data = final().to_json().encode()
    first = view.render("c1", 3, "", data)
    assert view.render("c1", 3, "", data) is first
    assert view.render(None, 0, "", b'{"type":"pong"}') == (b'{"type":"pong"}',)


def test_a_deepgram_subscriber_over_a_real_websocket():
    srv = EventServer(ServerConfig(port=0, token=TOKEN, stats_interval_s=0))
    srv.start()
    auth = {"additional_headers": {"Authorization": f"Bearer {TOKEN}"}}

    async def recv(ws) -> dict:
        return json.loads(await asyncio.wait_for(ws.recv(), 10))

    async def main():
        async with connect(srv.url + "?format=deepgram", **auth) as dg, \
                connect(srv.url, **auth) as ours, connect(srv.url, **auth) as by_msg:  # fmt: skip
            for ws, extra in ((dg, {}), (ours, {}), (by_msg, {"format": "deepgram"})):
                assert (await recv(ws))["type"] == "hello"
                await ws.send(json.dumps({"type": "subscribe", **extra}))
                assert (await recv(ws))["type"] == "subscribed"
            srv.publish(PartyJoined("c1", "customer", 8000, 0.0))
            srv.publish(PartyJoined("c1", "agent", 8000, 0.1))
            srv.publish(TranscriptPartial("c1", "agent", "agent-1", 1.0, 1.5, " Hel", 1.5))
            srv.publish(final())
            for ws in (dg, by_msg):
                got = [deepgram_client(await recv(ws)) for _ in range(3)]
                assert got == [("interim", (1, "Hel", "c1")),
                               ("final", (1, "Hello, world.", "c1")), ("end", 2.0)]  # fmt: skip
            assert [(await recv(ours))["type"] for _ in range(4)] == [
                "party.joined",
                "party.joined",
                "transcript.partial",
                "transcript.final",
            ]
            await dg.send(json.dumps({"type": "subscribe", "format": "bogus"}))
            assert (await recv(dg))["code"] == "bad_field"

    try:
        asyncio.run(main())
    finally:
        srv.stop()
