"""Labels and ids that come from the network, made safe to log, store and show.

A party id from an SDP ``i=`` line, the user part of a SIP ``From`` header or
a platform's agent name is chosen by whoever sends it.  Written raw, an ESC
byte repaints an operator's terminal and a newline forges a log line.
:func:`clean_label` replaces every control character (C0 including tab and
newline, DEL, C1, Unicode format controls such as the bidi overrides, line and
paragraph separators, lone surrogates) with ``?`` and cuts the label to a
bounded length.  It is applied once, where such a value is parsed.
"""

from __future__ import annotations

import re

MAX_LABEL_CHARS = 128
REPLACEMENT = "?"
# C0, DEL, C1; zero-width and bidi format controls; line/paragraph separators; BOM;
# surrogates (left by a lenient decode)
CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff]"
)


def clean_label(text: str, max_chars: int = MAX_LABEL_CHARS) -> str:
    """``text`` with control characters replaced by ``?``, at most ``max_chars`` long."""
    return CONTROL.sub(REPLACEMENT, text[:max_chars])


def has_control(text: str) -> bool:
    return CONTROL.search(text) is not None
