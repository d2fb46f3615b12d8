"""Labels and ids that come from the network, made safe to log, store and show.

A party id from an SDP ``i=`` line, the user part of a SIP ``From`` header or
a platform's agent name is chosen by whoever sends it.  Written raw, an ESC
byte repaints an operator's terminal and a newline forges a log line.
:func:`clean_label` keeps the printable characters (``str.isprintable``: any
letter, digit, mark, punctuation, symbol or the ASCII space) and replaces every
other one with ``?``: C0 controls including tab and newline, DEL, C1 controls,
format controls such as the bidi overrides and zero-width characters, line and
paragraph separators, lone surrogates, private-use and unassigned code points.
It also cuts the label to a bounded length.  It is applied once, where such a
value is parsed.
"""

from __future__ import annotations

MAX_LABEL_CHARS = 128
REPLACEMENT = "?"


def clean_label(text: str, max_chars: int | None = MAX_LABEL_CHARS) -> str:
    """``text`` with unprintable characters replaced by ``?``, at most ``max_chars`` long."""
    text = text[:max_chars]
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else REPLACEMENT for c in text)


def is_clean(text: str) -> bool:
    """Whether ``text`` holds only printable characters (what :func:`clean_label` keeps)."""
    return text.isprintable()
