"""Decoder results as transcript events: a partial (with the open turn's provisional
speaker) or a final (words on the call clock, speaker turns applied, the rest of a
streaming commit starting at its cut).  Pure functions of the job and its result."""

from __future__ import annotations

from dataclasses import replace

from records.events import TranscriptFinal, TranscriptPartial, Word

from .asr import AsrResult
from .commit import Commit, final_event
from .diarize import label_words
from .jobs import AsrJob


def spoken(text: str) -> str:
    """``text``, or "" when it holds no letter or digit (a decode of music or line noise
    is sometimes just ". ." : that is not speech)."""
    return text if any(ch.isalnum() for ch in text) else ""


def partial_of(job: AsrJob, text: str, now: float) -> TranscriptPartial:
    """A partial of the open segment; a mixed stream's carries the provisional speaker."""
    turn = job.speakers[-1] if job.speakers else None
    return TranscriptPartial(
        job.call_id,
        job.party,
        job.segment_id,
        job.start_s,
        job.end_s,
        text,
        now,
        job.revision,
        turn.speaker if turn else None,
        turn.kind if turn else None,
    )


def final_of(job: AsrJob, text: str, result: AsrResult | None, now: float) -> TranscriptFinal:
    """The final of a segment: its words on the call clock, labelled by speaker turns."""
    words = tuple(
        Word(w.text.strip(), job.start_s + w.start, job.start_s + w.end, w.probability)
        for w in (result.words if result is not None else ())
    )
    speaker = kind = None
    if job.speakers:
        words, speaker, kind = label_words(words, job.speakers, job.sample_rate)
    start, end = job.start_s, job.end_s
    if job.seam is not None:  # the rest of a commit: its words start at the cut
        start = max(start, job.seam.cut)
    return TranscriptFinal(
        job.call_id, job.party, job.segment_id, start, end, text, now, words, speaker, kind
    )


def commit_of(job: AsrJob, commit: Commit, now: float) -> TranscriptFinal:
    """The final of a streaming commit made on ``job``'s decode; a mixed stream's carries
    the partial's provisional speaker (the open turn's)."""
    final = final_event(job.call_id, job.party, commit, now)
    if not job.speakers:
        return final
    words, speaker, kind = label_words(final.words, job.speakers, job.sample_rate)
    return replace(final, words=words, speaker=speaker, speaker_kind=kind)
