"""Card data redaction applied to events: a final or partial in, its masked copy out.

:class:`EventRedactor` wraps :class:`pipeline.redact.Redactor` for the event
stream: a :class:`~records.events.TranscriptFinal` comes back with its masked
words and text, followed by one :class:`~records.events.Redaction` per masked
span; a :class:`~records.events.TranscriptPartial` comes back with its text
masked (best effort, ``[card?]`` for digit runs that may be a card being
read; no Redaction event: partials have no word times).

A final that ends in digits a card could go on from
(:func:`~pipeline.redact.may_continue`) is *held back*: nothing is returned for
it, and the party's next final is judged together with it, so a card read
over two or three finals is masked in all of them.  The held finals go out
(masked, each followed by its redactions, with their own ``emitted_at``) when
a later final of the party does not continue the digits, when the first of
them is ``hold_ms`` old on the call clock (:meth:`EventRedactor.tick`, or any
event of the call, tells the time), when ``MAX_HELD`` finals are held, and
before the party's ``party.left`` or the call's ``call.ended``.  Every other
event passes through.  Thread safe: pipeline threads of different parties and
the audio tap call it at once.
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

from .redact import Hit, RedactionConfig, Redactor, may_continue

MAX_HELD = 4  # finals of one party held back at once (policy: release all when reached)


class EventRedactor:
    def __init__(self, config: RedactionConfig, timed: bool = True) -> None:
        self.config = config
        # False for a recording replayed as fast as it decodes: the call clock of the newest
        # audio then runs far ahead of the decoder, so a held final waits for its party's
        # next final, its party.left or the cap, never for hold_ms
        self.timed = timed
        self.redactor = Redactor(config)
        self._lock = threading.Lock()
        self._held: dict[tuple[str, str], list[TranscriptFinal]] = {}
        self.holding = 0  # finals held now (read without the lock as a cheap hint)

    def apply(self, event: Event) -> list[Event]:
        """The events to publish instead of ``event`` (held finals released before it)."""
        with self._lock:
            out = self._due(event.call_id, event.emitted_at) if self._held and self.timed else []
            if isinstance(event, TranscriptFinal):
                return out + self._final(event)
            if isinstance(event, TranscriptPartial):
                return out + [self._partial(event)]
            if isinstance(event, PartyLeft | CallEnded):
                party = getattr(event, "party", None)
                for key in [
                    k for k in self._held if k[0] == event.call_id and party in (None, k[1])
                ]:
                    out += self._release(key)
                self.redactor.forget(event.call_id, party)
            return out + [event]

    def tick(self, call_id: str, now_s: float) -> list[Event]:
        """The call's held finals whose first is ``hold_ms`` old at ``now_s`` (call clock)."""
        if not self.holding or not self.timed:
            return []
        with self._lock:
            return self._due(call_id, now_s)

    # -- holding -----------------------------------------------------------
    def _due(self, call_id: str, now_s: float) -> list[Event]:
        out: list[Event] = []
        for key, held in list(self._held.items()):
            if key[0] == call_id and now_s - held[0].emitted_at >= self.config.hold_ms / 1000:
                out += self._release(key)
        return out

    def _final(self, event: TranscriptFinal) -> list[Event]:
        key = (event.call_id, event.party)
        group = [*self._held.pop(key, []), event]
        self.holding -= len(group) - 1
        if self.config.cards and self.config.hold_ms and len(group) < MAX_HELD:
            tokens = [t for f in group for t in _tokens(f)]
            hits = self.redactor.final(event.call_id, event.party, tokens, commit=False)
            if may_continue(tokens, hits):
                self._held[key] = group
                self.holding += len(group)
                return []
        return self._judge(group)

    def _release(self, key: tuple[str, str]) -> list[Event]:
        group = self._held.pop(key, [])
        self.holding -= len(group)
        return self._judge(group) if group else []

    def _judge(self, group: list[TranscriptFinal]) -> list[Event]:
        """The group judged as one final, each final masked by its share of the hits."""
        first = group[0]
        per = [_tokens(f) for f in group]
        tokens = [t for each in per for t in each]
        hits = self.redactor.final(first.call_id, first.party, tokens)
        out: list[Event] = []
        base = 0
        for final, toks in zip(group, per, strict=True):
            n = len(toks)
            mine = [
                Hit(max(h.first, base) - base, min(h.last, base + n - 1) - base, h.kind)
                for h in hits
                if h.first < base + n and h.last >= base
            ]
            out += _masked_final(final, toks, mine)
            base += n
        return out

    def _partial(self, event: TranscriptPartial) -> Event:
        tokens = event.text.split()
        held = [t for f in self._held.get((event.call_id, event.party), []) for t in _tokens(f)]
        hits = self.redactor.partial(event.call_id, event.party, tokens, held)
        if not hits:
            return event
        return dataclasses.replace(event, text=" ".join(_masked(tokens, hits)))


def _tokens(final: TranscriptFinal) -> list[str]:
    return [w.text for w in final.words] if final.words else final.text.split()


def _masked_final(event: TranscriptFinal, tokens: list[str], hits: list[Hit]) -> list[Event]:
    if not hits:
        return [event]
    words = event.words
    if words:
        new_words = _masked_words(words, hits)
        text = " ".join(w.text for w in new_words)
    else:
        new_words, text = (), " ".join(_masked(tokens, hits))
    out: list[Event] = [dataclasses.replace(event, text=text, words=new_words)]
    for hit in hits:
        start, end = (
            (words[hit.first].start, words[hit.last].end) if words else (event.start, event.end)
        )
        out.append(
            Redaction(
                event.call_id, event.party, event.segment_id, hit.kind, start, end, event.emitted_at
            )
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
