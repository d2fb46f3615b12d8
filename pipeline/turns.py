"""Who spoke when in a mixed stream's segment: the diarizer's output record.

Its own module so that :mod:`pipeline.jobs` (an ASR final carries the turns)
and :mod:`pipeline.diarize` (which makes them) both import it.
"""

from __future__ import annotations

from dataclasses import dataclass

NEUTRAL = "neutral"  # label says only "a distinct voice"
ROLE = "role"  # label is a role the platform told


@dataclass(frozen=True, slots=True)
class SpeakerTurn:
    """One speaker's stretch of a segment (sample indices on the call clock)."""

    start: int
    end: int
    speaker: str  # "speaker_2", or a role such as "agent"
    kind: str  # NEUTRAL or ROLE
    similarity: float  # cosine to the speaker's centroid before this turn (1.0 when new)
    new: bool = False  # the first turn of this speaker
