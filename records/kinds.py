"""What a stream of audio holds: one person, or the whole call.

A :class:`StreamKind` travels on every :class:`~records.frames.AudioFrame` and
:class:`~records.device.StreamLabel`; the pipeline diarizes a ``MIXED`` stream
and never a ``PARTY`` one.  The kind is a type, never read from a label: a
party that happens to be called ``"mixed"`` is still one party.
"""

from __future__ import annotations

from enum import StrEnum


class StreamKind(StrEnum):
    PARTY = "party"  # one party's own audio (per-party supervision, a stream per party)
    MIXED = "mixed"  # the whole call in one stream: several voices, diarized


MIXED_LABEL = "mixed"  # the party label a mixed stream gets when nothing names it better
