"""An incremental 16-bit PCM WAV writer that survives a kill, and its repair.

:class:`WavWriter` writes int16 frames at explicit frame offsets into a plain
44-byte-header RIFF/WAVE file: appending is the common case, a write past the
end pads with silence, a write before the end overwrites (how a pause redacts
audio already written), :meth:`WavWriter.write_channel` patches one channel of
a multi-channel file (a party that lags or joins late) and
:meth:`WavWriter.widen` adds channels by copying into a scratch file.
:meth:`WavWriter.flush` patches the RIFF and data sizes and hands the bytes to
the OS, so a file cut short by a crash holds every frame up to the last flush
and needs only its sizes fixed: :func:`repair_wav` does that from the file
length.  The writer takes an open binary file: the file system is the caller's.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

HEADER_BYTES = 44
BLOCK_FRAMES = 1 << 15  # frames per copy / silence block: bounds the memory of big moves
_MAX_SIZE = 0xFFFFFFFF
_FMT = struct.Struct("<4sI4s4sIHHIIHH4sI")


class WavFormatError(ValueError):
    """A file that is not a 16-bit PCM WAV this module wrote."""


def wav_header(sample_rate: int, channels: int, data_bytes: int) -> bytes:
    align = 2 * channels
    return _FMT.pack(
        b"RIFF",
        min(_MAX_SIZE, 36 + data_bytes),
        b"WAVE",
        b"fmt ",
        16,
        1,  # WAVE_FORMAT_PCM
        channels,
        sample_rate,
        sample_rate * align,
        align,
        16,
        b"data",
        min(_MAX_SIZE, data_bytes),
    )


def read_header(head: bytes) -> tuple[int, int]:
    """``(sample_rate, channels)`` of a header this module wrote."""
    if len(head) < HEADER_BYTES:
        raise WavFormatError(f"header truncated ({len(head)} bytes)")
    riff, _, wave, fmt, fmt_size, tag, channels, rate, _, align, bits, data, _ = _FMT.unpack(
        head[:HEADER_BYTES]
    )
    if (riff, wave, fmt, data) != (b"RIFF", b"WAVE", b"fmt ", b"data"):
        raise WavFormatError("not a canonical RIFF/WAVE header")
    if fmt_size != 16 or tag != 1 or bits != 16 or channels < 1 or align != 2 * channels:
        raise WavFormatError(f"not 16-bit PCM (tag {tag}, {bits} bits, {channels} channels)")
    return rate, channels


class WavWriter:
    """One int16 WAV file written at frame offsets; ``frames`` is its length."""

    def __init__(self, file: BinaryIO, sample_rate: int, channels: int) -> None:
        if sample_rate <= 0 or channels < 1:
            raise ValueError(f"bad WAV format: {sample_rate} Hz, {channels} channels")
        self.file = file
        self.sample_rate = sample_rate
        self.channels = channels
        self.frames = 0
        self.file.write(wav_header(sample_rate, channels, 0))
        self._pos = HEADER_BYTES  # where the file object's position is
        self._patched = 0  # frames the header says

    @property
    def align(self) -> int:
        return 2 * self.channels

    def write(self, offset: int, pcm: np.ndarray) -> int:
        """Write int16 ``pcm`` ((frames,) or (frames, channels)) at frame ``offset``; bytes."""
        if pcm.ndim == 1:
            pcm = pcm.reshape(-1, 1)
        if pcm.shape[1] != self.channels:
            raise ValueError(f"{pcm.shape[1]} channels written to a {self.channels}-channel file")
        written = (
            self.write_silence(self.frames, offset - self.frames) if offset > self.frames else 0
        )
        data = np.ascontiguousarray(pcm, dtype="<i2").tobytes()
        self._write_at(offset, data)
        self.frames = max(self.frames, offset + pcm.shape[0])
        return written + len(data)

    def write_silence(self, offset: int, frames: int) -> int:
        """Zero ``frames`` frames from ``offset`` (extending the file if needed); bytes."""
        done = 0
        while done < frames:
            n = min(BLOCK_FRAMES, frames - done)
            self._write_at(offset + done, bytes(n * self.align))
            done += n
        self.frames = max(self.frames, offset + frames)
        return max(0, frames) * self.align

    def write_channel(self, offset: int, channel: int, pcm: np.ndarray) -> int:
        """Overwrite one channel from ``offset`` with 1-D ``pcm``, keeping the others."""
        if not 0 <= channel < self.channels:
            raise ValueError(f"channel {channel} of a {self.channels}-channel file")
        n = int(pcm.shape[0])
        written = 0
        if offset + n > self.frames:
            written += self.write_silence(self.frames, offset + n - self.frames)
        for a in range(0, n, BLOCK_FRAMES):
            m = min(BLOCK_FRAMES, n - a)
            block = self._read_at(offset + a, m).copy()
            block[:, channel] = pcm[a : a + m]
            data = block.astype("<i2").tobytes()
            self._write_at(offset + a, data)
            written += len(data)
        return written

    def widen(self, channels: int, scratch: BinaryIO) -> int:
        """Copy the file into ``scratch`` with silent extra channels; continue on ``scratch``.

        The caller renames the scratch file over the old one afterwards (an
        atomic switch: a crash before the rename leaves the old file intact).
        """
        if channels <= self.channels:
            raise ValueError(f"widen from {self.channels} to {channels} channels")
        old_channels = self.channels
        scratch.write(wav_header(self.sample_rate, channels, self.frames * 2 * channels))
        written = HEADER_BYTES
        for a in range(0, self.frames, BLOCK_FRAMES):
            m = min(BLOCK_FRAMES, self.frames - a)
            wide = np.zeros((m, channels), dtype="<i2")
            wide[:, :old_channels] = self._read_at(a, m)
            data = wide.tobytes()
            scratch.write(data)
            written += len(data)
        old = self.file
        self.file, self.channels = scratch, channels
        self._pos = HEADER_BYTES + self.frames * self.align
        self._patched = self.frames
        scratch.flush()
        old.close()
        return written

    def flush(self, fsync: bool = False) -> None:
        """Patch the header sizes and hand everything written to the OS."""
        if self._patched != self.frames:
            data_bytes = self.frames * self.align
            self._seek(4)
            self.file.write(struct.pack("<I", min(_MAX_SIZE, 36 + data_bytes)))
            self._seek(40)
            self.file.write(struct.pack("<I", min(_MAX_SIZE, data_bytes)))
            self._pos = 44
            self._patched = self.frames
            self._seek(HEADER_BYTES + data_bytes)  # back at the end, where appends go
        self.file.flush()
        if fsync:
            os.fsync(self.file.fileno())

    def close(self, fsync: bool = False) -> None:
        try:
            self.flush(fsync)
        finally:
            self.file.close()

    # -- internals ---------------------------------------------------------
    def _seek(self, pos: int) -> None:
        if self._pos != pos:
            self.file.seek(pos)
            self._pos = pos

    def _write_at(self, offset: int, data: bytes) -> None:
        self._seek(HEADER_BYTES + offset * self.align)
        self.file.write(data)
        self._pos += len(data)

    def _read_at(self, offset: int, frames: int) -> np.ndarray:
        self._seek(HEADER_BYTES + offset * self.align)
        data = self.file.read(frames * self.align)
        self._pos += len(data)
        if len(data) != frames * self.align:
            raise OSError(f"short read of {len(data)} bytes at frame {offset}")
        return np.frombuffer(data, dtype="<i2").reshape(frames, self.channels)


def repair_wav(path: Path) -> int:
    """Fix the sizes of a WAV cut short by a crash from its length; frames kept.

    A trailing partial frame is cut off.  Raises :class:`WavFormatError` for a
    file without a header this module wrote (nothing is changed then).
    """
    with open(path, "r+b") as f:
        rate, channels = read_header(f.read(HEADER_BYTES))
        align = 2 * channels
        size = os.fstat(f.fileno()).st_size
        data_bytes = (size - HEADER_BYTES) // align * align
        f.truncate(HEADER_BYTES + data_bytes)
        f.seek(0)
        f.write(wav_header(rate, channels, data_bytes))
        f.flush()
        os.fsync(f.fileno())
    return data_bytes // align
