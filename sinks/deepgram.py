"""Our events as Deepgram live-streaming messages, for subscribers that ask ``format=deepgram``.

Sans-I/O.  A client written against Deepgram's streaming API (``Results``,
``UtteranceEnd``, ``Metadata`` messages) can subscribe with ``/ws?format=deepgram``
or ``"format": "deepgram"`` in its subscribe message and read our transcripts
unchanged (a ``[[webhooks]]`` target with ``format = "deepgram"`` gets the same
messages, one per request, :mod:`sinks.webhooks`):

* ``transcript.partial`` -> ``Results`` with ``is_final`` false;
* ``transcript.final`` -> ``Results`` with ``is_final`` and ``speech_final`` true
  (our finals end an utterance), then ``UtteranceEnd``;
* ``call.ended`` -> ``Metadata`` (``request_id`` is the call id, ``duration``,
  ``channels``);
* every other call event (``call.started``, ``party.joined``, ``call.stats``,
  ``recording.*``...) is dropped; our own replies (``hello``, ``subscribed``,
  ``pong``, ``error``) pass unchanged (a Deepgram client ignores unknown types).

``channel_index`` is ``[party index, party count]``: parties are numbered in the
order they joined the call (:class:`PartyBook`, fed every stamped message, so a
subscriber that filters parties or joins late sees the same numbers).

:class:`DeepgramView` renders one stamped message once for every deepgram
subscriber (a small cache by call and ``seq``) and so costs one JSON parse and
dump per event, not per subscriber.
"""

from __future__ import annotations

import json
import re
import string
from collections import OrderedDict
from typing import Any

FORMATS = ("listenin", "deepgram")
MAX_CALLS = 1024  # calls whose party order is remembered (oldest forgotten first)
MAX_PARTIES = 64  # parties numbered per call (more share the last index)
CACHE = 256  # rendered messages kept for the next deepgram subscriber
MODEL_INFO = {"name": "listenin", "version": "1", "arch": "whisper"}
_PUNCT = string.punctuation + "¿¡…“”‘’«»"
_DIGITS = re.compile(r"(\d+)$")


class PartyBook:
    """Per call, the order in which parties first appeared (joined or spoke); bounded."""

    def __init__(self, max_calls: int = MAX_CALLS) -> None:
        self.max_calls = max_calls
        self._calls: OrderedDict[str, dict[str, int]] = OrderedDict()

    def see(self, call_id: str | None, party: str | None) -> None:
        if call_id is None or party is None:
            return
        parties = self._calls.get(call_id)
        if parties is None:
            parties = self._calls[call_id] = {}
            while len(self._calls) > self.max_calls:
                self._calls.popitem(last=False)
        if party not in parties and len(parties) < MAX_PARTIES:
            parties[party] = len(parties)

    def channel(self, call_id: str, party: str) -> list[int]:
        """``[index, count]`` of ``party`` in its call (numbered now if never seen)."""
        self.see(call_id, party)
        parties = self._calls.get(call_id, {})
        index = parties.get(party, max(len(parties) - 1, 0))
        return [index, max(len(parties), 1)]

    def count(self, call_id: str) -> int:
        return len(self._calls.get(call_id, {}))

    def observe(self, call_id: str | None, type_: str, party: str | None) -> None:
        """Number the party of any event that has one (cheap: no JSON)."""
        if party is not None and type_ in ("party.joined", "transcript.partial",
                                           "transcript.final"):  # fmt: skip
            self.see(call_id, party)


def convert(event: dict[str, Any], book: PartyBook) -> list[dict[str, Any]]:
    """The Deepgram messages for one of our events (a parsed JSON object); [] to drop it."""
    kind = event.get("type")
    call_id = event.get("call_id")
    if not isinstance(call_id, str):
        return [event]  # a reply of ours (hello, subscribed, pong, error): unchanged
    if kind in ("transcript.partial", "transcript.final"):
        final = kind == "transcript.final"
        channel = book.channel(call_id, str(event.get("party", "")))
        result = results(event, channel, final)
        if not final:
            return [result]
        words = result["channel"]["alternatives"][0]["words"]
        last = words[-1]["end"] if words else float(event.get("end", 0.0))
        return [result, {"type": "UtteranceEnd", "channel": channel, "last_word_end": last}]
    if kind == "call.ended":
        return [{
            "type": "Metadata",
            "transaction_key": "deprecated",
            "request_id": call_id,
            "sha256": "",
            "created": "",
            "duration": float(event.get("duration", 0.0)),
            "channels": book.count(call_id),
            "models": [],
            "model_info": {},
        }]  # fmt: skip
    return []


def results(event: dict[str, Any], channel: list[int], final: bool) -> dict[str, Any]:
    """One ``Results`` message for a transcript.partial / transcript.final."""
    start, end = float(event.get("start", 0.0)), float(event.get("end", 0.0))
    words = [_word(w) for w in event.get("words", ()) if isinstance(w, dict)]
    confidence = sum(w["confidence"] for w in words) / len(words) if words else 0.0
    text = str(event.get("text", "")).strip()
    return {
        "type": "Results",
        "channel_index": channel,
        "duration": round(max(end - start, 0.0), 3),
        "start": start,
        "is_final": final,
        "speech_final": final,
        "channel": {
            "alternatives": [
                {"transcript": text, "confidence": round(confidence, 4), "words": words}
            ]
        },
        "metadata": {
            "request_id": event["call_id"],
            "model_info": MODEL_INFO,
            "model_uuid": "",
            "party": event.get("party"),
            "segment_id": event.get("segment_id"),
        },
        "from_finalize": False,
    }


def _word(w: dict[str, Any]) -> dict[str, Any]:
    text = str(w.get("text", "")).strip()
    out: dict[str, Any] = {
        "word": text.strip(_PUNCT).lower() or text,
        "start": float(w.get("start", 0.0)),
        "end": float(w.get("end", 0.0)),
        "confidence": float(w.get("probability", 0.0)),
        "punctuated_word": text,
    }
    speaker = w.get("speaker")
    if isinstance(speaker, str) and (m := _DIGITS.search(speaker)):
        out["speaker"] = int(m.group(1))  # Deepgram numbers speakers; "speaker_1" -> 1
    return out


def parse_format(value: object) -> str | None:
    """A subscriber's ``format``; None when it is not one we serve."""
    return value if isinstance(value, str) and value in FORMATS else None


class DeepgramView:
    """Renders stamped messages for deepgram subscribers: party order plus a small cache."""

    def __init__(self) -> None:
        self.book = PartyBook()
        self._cache: OrderedDict[tuple[str, str, int], tuple[bytes, ...]] = OrderedDict()

    def observe(self, call_id: str | None, type_: str, party: str | None) -> None:
        """Every stamped message passes here (cheap: no JSON), so numbering sees all parties."""
        self.book.observe(call_id, type_, party)

    def render(self, call_id: str | None, seq: int, origin: str, data: bytes) -> tuple[bytes, ...]:
        """The deepgram frames for one message (UTF-8 JSON texts); () to send nothing."""
        if call_id is None or seq <= 0:
            return (data,)  # a reply to this client
        key = (origin, call_id, seq)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        out = messages(data, self.book)
        self._cache[key] = out
        if len(self._cache) > CACHE:
            self._cache.popitem(last=False)
        return out


def messages(text: str | bytes, book: PartyBook) -> tuple[bytes, ...]:
    """The Deepgram messages (UTF-8 JSON texts) for one of our events' JSON text.

    The websocket view and the webhook targets with ``format = "deepgram"`` both
    render through here; ``book`` must have observed the call's earlier events.
    """
    return tuple(_dumps(m) for m in convert(json.loads(text), book))


def _dumps(msg: dict[str, Any]) -> bytes:
    return json.dumps(msg, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
