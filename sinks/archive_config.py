"""The recording archive's configuration: folder and file templates, flushing, queue bound.

Its own module so that :mod:`sinks.recorder` and :mod:`sinks.archive` both
import it; re-exported as ``sinks.archive.ArchiveConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .naming import CALL_FIELDS, PARTY_FIELDS, TemplateError, check_file_name, check_template


@dataclass(frozen=True, slots=True)
class ArchiveConfig:
    root: Path  # archive folder; templates are relative to it
    folder: str = (
        "{date}/{call_id}"  # a call's folder; {call_id} {date} {time} {year} {month} {day}
    )
    party_file: str = "{party}.wav"  # one mono WAV per party; must hold {party}
    stereo_file: str = "stereo.wav"  # one channel per party, in join order
    jsonl_file: str = "transcript.jsonl"
    text_file: str = "transcript.txt"
    flush_interval_ms: int = 1000  # longest time audio waits before it reaches the OS
    enabled: bool = True
    fsync: bool = False  # also fsync at each flush (survives power loss, not just kill -9)
    stereo_rate_hz: int | None = None  # None: the highest party rate when the file opens
    join_window_ms: int = 500  # call-clock time before the N-channel file opens
    max_skew_ms: int = 2000  # a party this far behind is patched in later
    queue_max_items: int = 4000  # audio records waiting for the writer (~10 s of 4 calls)
    # False: while paused, finals are not written and subscribers get them without text
    transcript_while_paused: bool = False

    def __post_init__(self) -> None:
        if not str(self.root).strip():  # Path("") is ".": it would record into the working folder
            raise ValueError("root must not be empty")
        object.__setattr__(self, "root", Path(self.root))
        check_template(self.folder, CALL_FIELDS, what="folder")
        check_template(self.party_file, PARTY_FIELDS, frozenset({"party"}), what="party_file")
        names = {"stereo_file": self.stereo_file, "jsonl_file": self.jsonl_file}
        names["text_file"] = self.text_file
        for what, template in names.items():
            check_template(template, CALL_FIELDS, what=what)
            check_file_name(template, what)
        check_file_name(self.party_file, "party_file")
        if len(set(names.values())) != len(names):
            raise TemplateError(f"file templates must differ: {names}")
        _within("flush_interval_ms", self.flush_interval_ms, 1, 60_000)
        _within("queue_max_items", self.queue_max_items, 1, 1_000_000)
        if self.stereo_rate_hz is not None:
            _within("stereo_rate_hz", self.stereo_rate_hz, 8000, 48000)
        _within("join_window_ms", self.join_window_ms, 0, 60_000)
        _within("max_skew_ms", self.max_skew_ms, 1, 600_000)


def _within(name: str, value: int, lo: int, hi: int) -> None:
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be within {lo}..{hi}, got {value}")
