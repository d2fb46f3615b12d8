"""One call's files: the layout's audio chunks into WAV files, the finals into text.

:class:`CallRecorder` is synchronous and single-threaded (the archive's writer
thread drives it) and is told the time (``now_s``, for the flush cadence).  It
creates every file as ``NAME.part`` (exclusively: nothing is overwritten),
flushes the WAV files (header sizes patched) every ``flush_interval_ms`` and
renames them to ``NAME`` at the end of the call.  The finals go to
``transcript.jsonl`` (``event.to_json()`` per line, with the
``recording.paused`` / ``recording.resumed`` events in between) and to
``transcript.txt`` (as :class:`listenin.render.TextRenderer` prints them), each
line handed to the OS as it is written.  An :class:`OSError` on a file (a full
disk, an unwritable folder) is logged once per call with the path and errno,
counted, and stops that file only: what it holds so far is salvaged, the other
files and the transcription go on.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from records.events import Alert, CallEnded, Dtmf, Event, PartyLeft, Redaction, TranscriptFinal
from records.frames import AudioFrame, Gap

from .archive_config import ArchiveConfig
from .events import RecordingEvent, RecordingPaused, RecordingResumed
from .layout import CallLayout, Chunk, PauseError
from .naming import TMP, call_values, part_path, publish, render, safe_value, unique_path
from .terminal import TextRenderer, clock
from .wavfile import WavWriter, repair_wav

log = logging.getLogger(__name__)

Opener = Callable[[Path], BinaryIO]  # create a new file for reading and writing


def create_exclusive(path: Path) -> BinaryIO:
    """The default opener: make the folder, create the file; fail if it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "x+b")


@dataclass(slots=True)
class Tally:
    """Running counts shared by an archive's recorders (written by its writer thread)."""

    bytes_written: int = 0
    files: int = 0  # files completed (renamed to their final name)
    errors: int = 0  # file operations that failed
    dropped: int = 0  # audio items refused by a full queue
    calls: int = 0


@dataclass(slots=True)
class _Out:
    final: Path
    part: Path
    file: BinaryIO | None = None  # text files
    wav: WavWriter | None = None


class CallRecorder:
    def __init__(
        self,
        call_id: str,
        config: ArchiveConfig,
        started_unix_s: float,
        tally: Tally,
        opener: Opener = create_exclusive,
        redact_audio: bool = False,
    ) -> None:
        self.call_id = call_id
        self.redact_audio = redact_audio  # a redaction event silences its span of audio
        self.config = config
        self.tally = tally
        self.opener = opener
        self.layout = CallLayout(
            call_id, config.stereo_rate_hz, config.join_window_ms, config.max_skew_ms
        )
        self._values = call_values(call_id, started_unix_s)
        self._folder = render(config.root, config.folder, self._values)
        if "{call_id}" in config.folder:  # a call's own folder: a reused call id gets a new one
            self._folder = unique_path(self._folder)
        self._outs: dict[str, _Out] = {}
        self._failed: set[str] = set()
        self._reported = False
        self._flushed_at_s: float | None = None
        self.finished: list[Path] = []

    # -- input -------------------------------------------------------------
    def push(self, item: AudioFrame | Gap) -> None:
        ignored = self.layout.ignored_frames
        self._write_all(self.layout.push(item))
        if self.layout.ignored_frames == 1 and ignored == 0:
            log.warning(
                "call %s: party %s changed rate to %d Hz mid-call: its frames are not recorded",
                self.call_id,
                item.party,
                item.sample_rate,
            )

    def on_event(self, event: Event) -> None:
        if isinstance(event, TranscriptFinal | Alert | Dtmf):
            self._transcript(event)
        elif isinstance(event, Redaction):  # JSONL only: the text shows the mask
            self._line("jsonl", event.to_json() + "\n")
            if self.redact_audio:
                self._write_all(self.layout.redact(event.party, event.start, event.end))
        elif isinstance(event, PartyLeft):
            self._write_all(self.layout.end_party(event.party))

    def pause(self, event: RecordingPaused) -> None:
        try:
            chunks = self.layout.pause(event.at)
        except PauseError as err:
            log.warning("call %s: %s", self.call_id, err)
            return
        self._write_all(chunks)
        self._transcript(event)

    def resume(self, event: RecordingResumed) -> None:
        try:
            self.layout.resume(event.at)
        except PauseError as err:
            log.warning("call %s: %s", self.call_id, err)
            return
        self._transcript(event)

    def tick(self, now_s: float) -> None:
        """Flush if the last flush is ``flush_interval_ms`` old."""
        if self._flushed_at_s is None:
            self._flushed_at_s = now_s
        elif (now_s - self._flushed_at_s) * 1000 >= self.config.flush_interval_ms:
            self.flush(now_s)

    def next_flush_s(self) -> float | None:
        if self._flushed_at_s is None:
            return None
        return self._flushed_at_s + self.config.flush_interval_ms / 1000

    def flush(self, now_s: float | None = None) -> None:
        for key, out in list(self._outs.items()):
            try:
                if out.wav is not None:
                    out.wav.flush(self.config.fsync)
            except OSError as err:
                self._fail(key, out.part, err)
        if now_s is not None:
            self._flushed_at_s = now_s

    def finish(self, event: CallEnded | None = None) -> list[Path]:
        """End of the call: pad, close, rename every file; the final paths."""
        self._write_all(self.layout.flush(event.duration if event else None))
        for key in ("jsonl", "text"):
            if key not in self._outs and key not in self._failed:
                self._text_out(key)
        for key, out in list(self._outs.items()):
            try:
                if out.wav is not None:
                    out.wav.close(self.config.fsync)
                elif out.file is not None:
                    out.file.close()
                final = publish(out.part, out.final)
            except OSError as err:
                self._fail(key, out.part, err)
                continue
            del self._outs[key]
            self.tally.files += 1
            self.finished.append(final)
        return self.finished

    # -- audio -------------------------------------------------------------
    def _write_all(self, chunks: list[Chunk]) -> None:
        for chunk in chunks:
            key = "stereo" if chunk.party is None else f"party:{chunk.party}"
            if key not in self._failed:
                self._write(key, chunk)

    def _write(self, key: str, chunk: Chunk) -> None:
        out = self._outs.get(key)
        path = out.part if out else self._folder
        try:
            if out is None:
                out = self._open(key, chunk)
                path = out.part
            wav = out.wav
            assert wav is not None
            if len(chunk.channels) > wav.channels:
                self.tally.bytes_written += self._widen(out, wav, len(chunk.channels))
            if chunk.silence:
                n = wav.write_silence(chunk.offset, chunk.silence)
            elif chunk.channel is not None:
                n = wav.write_channel(chunk.offset, chunk.channel, chunk.pcm)
            else:
                n = wav.write(chunk.offset, chunk.pcm)
            self.tally.bytes_written += n
        except OSError as err:
            self._fail(key, path, err)

    def _open(self, key: str, chunk: Chunk) -> _Out:
        if chunk.party is None:
            template, values = self.config.stereo_file, self._values
        else:
            template = self.config.party_file
            values = {**self._values, "party": safe_value(chunk.party)}
        out = self._create(key, template, values)
        assert out.file is not None
        out.wav = WavWriter(out.file, chunk.sample_rate, len(chunk.channels))
        out.file = None
        out.wav.flush()  # the header reaches the OS at once: even an early crash is repairable
        return out

    def _create(self, key: str, template: str, values: dict[str, str]) -> _Out:
        final = unique_path(render(self._folder, template, values))
        part = part_path(final)
        out = _Out(final, part, self.opener(part))
        self._outs[key] = out
        return out

    def _widen(self, out: _Out, wav: WavWriter, channels: int) -> int:
        tmp = out.part.with_name(out.part.name + TMP)
        if tmp.exists():
            tmp.unlink()
        n = wav.widen(channels, self.opener(tmp))
        os.replace(tmp, out.part)
        return n

    # -- transcript --------------------------------------------------------
    def _transcript(self, event: TranscriptFinal | Alert | Dtmf | RecordingEvent) -> None:
        self._line("jsonl", event.to_json() + "\n")  # the text the other sinks share
        if isinstance(event, TranscriptFinal | Alert | Dtmf):
            buf = io.StringIO()
            TextRenderer(buf, live=False)(event)
            text = buf.getvalue()
        else:
            what = "paused" if isinstance(event, RecordingPaused) else "resumed"
            text = f"[{clock(event.at)}] (recording {what})\n"
        if text:
            self._line("text", text)

    def _text_out(self, key: str) -> _Out | None:
        template = self.config.jsonl_file if key == "jsonl" else self.config.text_file
        try:
            return self._create(key, template, self._values)
        except OSError as err:
            self._fail(key, self._folder, err)
            return None

    def _line(self, key: str, text: str) -> None:
        if key in self._failed:
            return
        out = self._outs.get(key) or self._text_out(key)
        if out is None or out.file is None:
            return
        data = text.encode("utf-8")
        try:
            out.file.write(data)
            out.file.flush()
        except OSError as err:
            self._fail(key, out.part, err)
            return
        self.tally.bytes_written += len(data)

    # -- errors ------------------------------------------------------------
    def _fail(self, key: str, path: Path, err: OSError) -> None:
        """Count and report (once per call) a failed file; stop it, keep what it holds."""
        self.tally.errors += 1
        self._failed.add(key)
        if not self._reported:
            self._reported = True
            log.error(
                "call %s: cannot write %s: [errno %s] %s; this file stops, transcription goes on",
                self.call_id,
                path,
                err.errno,
                err.strerror or err,
            )
        else:
            log.debug("call %s: cannot write %s: %s", self.call_id, path, err)
        out = self._outs.pop(key, None)
        if out is None:
            return
        try:
            if out.wav is not None:
                out.wav.close()
            elif out.file is not None:
                out.file.close()
        except OSError:
            pass
        try:  # salvage: what reached the file is kept under the final name
            if out.wav is not None:
                repair_wav(out.part)
            self.finished.append(publish(out.part, out.final))
            self.tally.files += 1
        except (OSError, ValueError):
            log.debug("call %s: %s left for repair", self.call_id, out.part)
