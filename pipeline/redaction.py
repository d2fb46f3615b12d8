"""Card data redaction applied to events: a final or partial in, its masked copy out.

:class:`EventRedactor` wraps :class:`pipeline.redact.Redactor` for the event
stream: a :class:`~records.events.TranscriptFinal` comes back with its masked
words and text, followed by one :class:`~records.events.Redaction` per masked
span; a :class:`~records.events.TranscriptPartial` comes back with its text
masked (best effort, ``[card?]`` for digit runs that may be a card being
read; no Redaction event: partials have no word times).  Every other event
passes through; party.left and call.ended drop the stream's state.  Thread
safe: pipeline threads of different parties call it at once.
"""

from __future__ import annotations

import dataclasses
import threading

from records.events import (
    CallEnded,
    Event,
    PartyLeft,
    Redaction,
    TranscriptFinal,
    TranscriptPartial,
    Word,
)

from .redact import Hit, RedactionConfig, Redactor


class EventRedactor:
    def __init__(self, config: RedactionConfig) -> None:
        self.redactor = Redactor(config)
        self._lock = threading.Lock()

    def apply(self, event: Event) -> list[Event]:
        """The events to publish instead of ``event`` (itself when nothing was masked)."""
        if isinstance(event, TranscriptFinal):
            return self._final(event)
        if isinstance(event, TranscriptPartial):
            tokens = event.text.split()
            with self._lock:
                hits = self.redactor.partial(event.call_id, event.party, tokens)
            if not hits:
                return [event]
            return [dataclasses.replace(event, text=" ".join(_masked(tokens, hits)))]
        if isinstance(event, PartyLeft | CallEnded):
            with self._lock:
                self.redactor.forget(event.call_id, getattr(event, "party", None))
        return [event]

    def _final(self, event: TranscriptFinal) -> list[Event]:
        words = event.words
        tokens = [w.text for w in words] if words else event.text.split()
        with self._lock:
            hits = self.redactor.final(event.call_id, event.party, tokens)
        if not hits:
            return [event]
        out: list[Event] = []
        if words:
            new_words = _masked_words(words, hits)
            text = " ".join(w.text for w in new_words)
        else:
            new_words, text = (), " ".join(_masked(tokens, hits))
        out.append(dataclasses.replace(event, text=text, words=new_words))
        for hit in hits:
            start, end = (
                (words[hit.first].start, words[hit.last].end) if words else (event.start, event.end)
            )
            out.append(
                Redaction(
                    event.call_id,
                    event.party,
                    event.segment_id,
                    hit.kind,
                    start,
                    end,
                    event.emitted_at,
                )  # fmt: skip
            )
        return out


def _masked(tokens: list[str], hits: list[Hit]) -> list[str]:
    out: list[str] = []
    i = 0
    for hit in hits:
        out += tokens[i : hit.first]
        out.append(hit.mask)
        i = hit.last + 1
    return out + tokens[i:]


def _masked_words(words: tuple[Word, ...], hits: list[Hit]) -> tuple[Word, ...]:
    out: list[Word] = []
    i = 0
    for hit in hits:
        out += words[i : hit.first]
        span = words[hit.first : hit.last + 1]
        prob = min(w.probability for w in span)
        out.append(Word(hit.mask, span[0].start, span[-1].end, prob, span[0].speaker))
        i = hit.last + 1
    return (*out, *words[i:])
