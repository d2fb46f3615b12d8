import errno
import io
import json
import logging
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from records.events import CallEnded, PartyLeft, TranscriptFinal, Word
from records.frames import AudioFrame, Gap
from sinks.archive import Archive, ArchiveConfig, TemplateError, repair
from sinks.events import RecordingPaused, RecordingResumed
from sinks.recorder import CallRecorder, Tally
from sinks.wavfile import WavWriter

REPO = Path(__file__).resolve().parents[2]
WALL = datetime(2026, 11, 21, 9, 30, tzinfo=UTC).timestamp()


def signal_of(party: str, start: int, n: int) -> np.ndarray:
    sign = 1 if party == "agent" else -1
    return (sign * (np.arange(start, start + n) % 30000 + 1)).astype(np.int16)


def frame(party: str, i: int, call_id: str = "c1") -> AudioFrame:
    return AudioFrame(call_id, party, 8000, i * 160, signal_of(party, i * 160, 160))


def expected(party: str, spans, total: int) -> np.ndarray:
    out = np.zeros(total, np.int16)
    for a, b in spans:
        out[a:b] = signal_of(party, a, b - a)
    return out


def final(party: str, n: int, start: float, text: str, call_id: str = "c1") -> TranscriptFinal:
    words = (Word(text.split()[0], start, start + 0.3, 0.9),)
    return TranscriptFinal(
        call_id, party, f"{party}-{n}", start, start + 1, text, start + 1.6, words
    )


def read(path: Path) -> np.ndarray:
    return sf.read(path, dtype="int16", always_2d=True)[0]


@pytest.fixture
def archive_factory(tmp_path):
    made = []

    def make(**kw) -> Archive:
        opener = kw.pop("opener", None)
        config = ArchiveConfig(kw.pop("root", tmp_path / "archive"), **kw)
        extra = {"opener": opener} if opener else {}
        archive = Archive(config, wall_clock=lambda: WALL, **extra)
        archive.start()
        made.append(archive)
        return archive

    yield make
    for archive in made:
        archive.close()


@pytest.mark.parametrize("kept", [True, False])
def test_a_call_on_disk_aligned_with_its_transcript_and_a_pause(archive_factory, tmp_path, kept):
    archive = archive_factory(transcript_while_paused=kept)
    finals = [final("agent", 1, 0.2, "hello, how can I help"), final("customer", 1, 1.2, "hi")]
    for i in range(200):  # 4 s; the customer joins at 1 s (after the stereo file opened)
        if i == 150:
            assert archive.hides("c1") is not kept
            archive.on_event(finals[1])  # spoken while paused: kept only if configured
            resumed = archive.resume("c1", 3.0)
        archive.push(frame("agent", i))
        if 50 <= i < 100 or 110 <= i <= 180:  # a gap at 2 s; leaves after 3.6 s
            archive.push(frame("customer", i))
        if i == 100:
            archive.push(Gap("c1", "customer", 8000, 100 * 160, 10 * 160))
        if i == 60:
            archive.on_event(finals[0])
        if i == 120:  # after the frames of 2.40-2.42 s: they are overwritten
            paused = archive.pause("c1", 2.4)
            assert archive.pause("c1", 2.5) is None  # already paused
        if i == 180:
            archive.on_event(PartyLeft("c1", "customer", 3.6))
    archive.on_event(CallEnded("c1", 4.5, 4.0))
    assert archive.flush()

    folder = tmp_path / "archive" / "2026-11-21" / "c1"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "agent.wav",
        "customer.wav",
        "stereo.wav",
        "transcript.jsonl",
        "transcript.txt",
    ]
    total, paused_span = 200 * 160, (int(2.4 * 8000), 3 * 8000)
    agent = expected("agent", [(0, paused_span[0]), (paused_span[1], total)], total)
    customer = expected("customer", [(8000, 16000), (17600, 19200), (24000, 181 * 160)], total)
    assert np.array_equal(read(folder / "agent.wav")[:, 0], agent)
    assert np.array_equal(read(folder / "customer.wav")[:, 0], customer)
    stereo = read(folder / "stereo.wav")
    assert stereo.shape == (total, 2)
    assert np.array_equal(stereo[:, 0], agent) and np.array_equal(stereo[:, 1], customer)

    lines = (folder / "transcript.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        finals[0].to_dict(),
        paused.to_dict(),
        *([finals[1].to_dict()] if kept else []),
        resumed.to_dict(),
    ]
    assert not archive.hides("c1")
    assert paused == RecordingPaused("c1", 2.4) and resumed == RecordingResumed("c1", 3.0)
    assert paused.to_dict() == {"type": "recording.paused", "call_id": "c1", "at": 2.4}
    assert (folder / "transcript.txt").read_text() == (
        "[00:00.2] agent: hello, how can I help\n"
        "[00:02.4] (recording paused)\n"
        + ("[00:01.2] customer: hi\n" if kept else "")
        + "[00:03.0] (recording resumed)\n"
    )
    stats = archive.stats
    assert (stats.files, stats.errors, stats.dropped, stats.calls) == (5, 0, 0, 1)
    on_disk = sum(p.stat().st_size for p in folder.iterdir())
    assert stats.bytes_written >= on_disk


def test_nothing_is_overwritten(archive_factory, tmp_path):
    folder = tmp_path / "archive" / "c1"
    folder.mkdir(parents=True)
    (folder / "agent.wav").write_bytes(b"someone else's")
    archive = archive_factory(folder="{call_id}")
    for _ in range(2):  # the same call id twice
        for i in range(10):
            archive.push(frame("agent", i))
        archive.on_event(CallEnded("c1", 0.2, 0.2))
    archive.close()
    assert (folder / "agent.wav").read_bytes() == b"someone else's"
    assert [p.name for p in folder.iterdir()] == ["agent.wav"]  # someone else's folder
    files = ["agent.wav", "stereo.wav", "transcript.jsonl", "transcript.txt"]
    for again in ("c1-1", "c1-2"):  # each call with that id in a new, suffixed folder
        assert sorted(p.name for p in (folder.parent / again).iterdir()) == files
    assert read(folder.parent / "c1-2" / "agent.wav").shape == (1600, 1)


def test_calls_sharing_a_folder_get_suffixed_files(archive_factory, tmp_path):
    archive = archive_factory(folder="shared")
    for _ in range(2):  # the same call id twice, in a folder template without {call_id}
        for i in range(10):
            archive.push(frame("agent", i))
        archive.on_event(CallEnded("c1", 0.2, 0.2))
    archive.close()
    names = sorted(p.name for p in (tmp_path / "archive" / "shared").iterdir())
    assert names == [
        "agent-1.wav", "agent.wav", "stereo-1.wav", "stereo.wav",
        "transcript-1.jsonl", "transcript-1.txt", "transcript.jsonl", "transcript.txt",
    ]  # fmt: skip


def test_unwritable_folder_is_reported_once_and_never_raises(archive_factory, tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the archive folder should be")
    archive = archive_factory(root=blocker / "archive", folder="{call_id}")
    with caplog.at_level(logging.ERROR, logger="sinks"):
        for i in range(100):
            assert archive.push(frame("agent", i))
            archive.push(frame("customer", i))
        archive.on_event(final("agent", 1, 0.5, "still transcribed"))
        archive.on_event(CallEnded("c1", 2.0, 2.0))
        assert archive.flush()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert str(blocker / "archive" / "c1") in errors[0].getMessage()
    assert f"errno {errno.ENOTDIR}" in errors[0].getMessage()
    assert archive.stats.errors == 5  # two party files, stereo, jsonl, txt: each stopped


class FillingDisk(io.FileIO):
    """A file on a disk with ``free`` bytes left, shared by all its files (ENOSPC after)."""

    free = 0

    def write(self, b) -> int:  # type: ignore[override]
        size = os.fstat(self.fileno()).st_size
        growth = max(0, self.tell() + len(b) - size)
        if growth > FillingDisk.free:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        FillingDisk.free -= growth
        return super().write(b)


def filling_opener(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    return io.BufferedRandom(FillingDisk(path, "x+"), buffer_size=4096)


def test_a_full_disk_is_reported_and_what_was_written_is_kept(archive_factory, tmp_path, caplog):
    FillingDisk.free = 44 + 20000  # a header and ~1.2 s of 8 kHz mono
    archive = archive_factory(folder="{call_id}", opener=filling_opener)
    with caplog.at_level(logging.ERROR, logger="sinks"):
        for i in range(150):
            archive.push(frame("agent", i))
        archive.on_event(final("agent", 1, 0.5, "the transcript goes on"))
        archive.on_event(CallEnded("c1", 3.0, 3.0))
        assert archive.flush()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and f"errno {errno.ENOSPC}" in errors[0].getMessage()
    assert archive.stats.errors >= 2
    salvaged = read(tmp_path / "archive" / "c1" / "agent.wav")[:, 0]
    assert 0 < salvaged.size < 150 * 160
    assert np.array_equal(salvaged, expected("agent", [(0, 150 * 160)], 150 * 160)[: salvaged.size])


def test_dev_full_is_a_real_enospc(archive_factory, caplog):
    archive = archive_factory(folder="{call_id}", opener=lambda path: open("/dev/full", "r+b"))
    with caplog.at_level(logging.ERROR, logger="sinks"):
        archive.push(frame("agent", 0))
        archive.on_event(CallEnded("c1", 0.02, 0.02))
        assert archive.flush()
    assert "No space left on device" in caplog.text and archive.stats.errors >= 1


def test_audio_beyond_the_queue_bound_is_dropped_and_counted(tmp_path, caplog):
    archive = Archive(ArchiveConfig(tmp_path, folder="{call_id}", queue_max_items=3))
    with caplog.at_level(logging.WARNING, logger="sinks"):
        accepted = [archive.push(frame("agent", i)) for i in range(5)]  # the writer is not started
    assert accepted == [True, True, True, False, False]
    assert archive.stats.dropped == 2 and archive.stats.queued == 3
    assert caplog.text.count("drop_newest_audio") == 1
    assert archive.pause("c1", 0.0) is not None  # control records always get in
    archive.start()
    archive.close()
    assert not read(tmp_path / "c1" / "agent.wav").any()  # paused from 0: silence only


def test_a_disabled_archive_writes_nothing(tmp_path):
    archive = Archive(ArchiveConfig(tmp_path / "a", enabled=False))
    assert archive.start() == [] and not archive.push(frame("agent", 0))
    assert archive.pause("c1", 0.0) is None and not archive.flush()
    archive.close()
    assert not (tmp_path / "a").exists()


def test_call_ids_from_the_network_cannot_escape_the_root(archive_factory, tmp_path):
    archive = archive_factory(folder="{call_id}", party_file="{call_id}-{party}.wav")
    archive.push(AudioFrame("../../x", "../p", 8000, 0, np.ones(160, np.int16)))
    archive.on_event(CallEnded("../../x", 0.02, 0.02))
    assert archive.flush()
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.wav"))
    assert files == ["archive/_.._.._x/_.._.._x-_.._p.wav", "archive/_.._.._x/stereo.wav"]


@pytest.mark.parametrize(
    ("field", "template", "message"),
    [
        ("folder", "{date}/{caller}", "unknown placeholder {caller}"),
        ("folder", "../{call_id}", "'..' escapes"),
        ("folder", "/var/{call_id}", "absolute path"),
        ("folder", "{call_id:>10}", "no format spec"),
        ("folder", "{call_id.__class__}", "unknown placeholder"),
        ("folder", "{call_id", "template"),
        ("party_file", "agent.wav", "must contain {party}"),
        ("stereo_file", "{party}.wav", "unknown placeholder {party}"),
        ("jsonl_file", "t.jsonl.part", "must name a file"),
        ("text_file", "transcript.jsonl", "must differ"),
    ],
)
def test_bad_templates_are_refused(tmp_path, field, template, message):
    with pytest.raises(TemplateError, match=message.replace("{", r"\{").replace("(", r"\(")):
        ArchiveConfig(tmp_path, **{field: template})
    assert issubclass(TemplateError, ValueError)


def test_flushes_are_driven_by_the_time_it_is_told(tmp_path):
    config = ArchiveConfig(tmp_path, folder="{call_id}", flush_interval_ms=1000)
    recorder = CallRecorder("c1", config, WALL, Tally())
    recorder.tick(10.0)
    for i in range(50):
        recorder.push(frame("agent", i))
    part = tmp_path / "c1" / "agent.wav.part"
    assert read(part).shape[0] == 0  # the header still says empty
    recorder.tick(10.9)
    assert read(part).shape[0] == 0
    recorder.tick(11.0)
    assert read(part).shape[0] == 8000
    assert [p.name for p in recorder.finish()] == [
        "agent.wav",
        "stereo.wav",
        "transcript.jsonl",
        "transcript.txt",
    ]


def test_repair_finishes_what_a_crash_left(tmp_path):
    call = tmp_path / "c9"
    call.mkdir()
    (call / "transcript.jsonl.part").write_text('{"type": "transcript.final"}\n{"type": "tra')
    (call / "stereo.wav.part.tmp").write_bytes(b"half a widened copy")
    (call / "stereo.wav.part").write_bytes(b"RIF")  # killed before its header reached the OS
    (call / "agent.wav").write_bytes(b"finished earlier")
    with open(call / "agent.wav.part", "x+b") as f:
        WavWriter(f, 8000, 1).write(0, np.ones(100, np.int16))
    repaired = repair(tmp_path)
    assert sorted(p.name for p in repaired) == [
        "agent-1.wav",
        "stereo.wav.broken",
        "transcript.jsonl",
    ]
    assert (call / "agent.wav").read_bytes() == b"finished earlier"
    assert read(call / "agent-1.wav").shape == (100, 1)
    assert (call / "transcript.jsonl").read_text() == '{"type": "transcript.final"}\n'
    assert not list(tmp_path.rglob("*.part*"))
    assert repair(tmp_path / "missing") == []


CHILD = r"""
import sys
import numpy as np
from pathlib import Path
from records.events import TranscriptFinal
from records.frames import AudioFrame
from sinks.archive import Archive, ArchiveConfig

def sig(sign, start, n):
    return (sign * (np.arange(start, start + n) % 30000 + 1)).astype(np.int16)

archive = Archive(ArchiveConfig(Path(sys.argv[1]), folder="{call_id}"))
archive.start()
for i in range(150):  # 3 s; the customer joins at 1 s
    archive.push(AudioFrame("k", "agent", 8000, i * 160, sig(1, i * 160, 160)))
    if i >= 50:
        archive.push(AudioFrame("k", "customer", 8000, i * 160, sig(-1, i * 160, 160)))
archive.on_event(TranscriptFinal("k", "agent", "agent-1", 0.5, 1.5, "before the crash", 2.0))
assert archive.flush()
print("flushed", flush=True)
sys.stdin.read()  # mid-call, files open: wait for the kill
"""


def test_kill_9_mid_call_then_repair_at_the_next_start(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "flushed\n"
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
    folder = tmp_path / "k"
    assert sorted(p.name for p in folder.iterdir()) == [
        "agent.wav.part",
        "customer.wav.part",
        "stereo.wav.part",
        "transcript.jsonl.part",
        "transcript.txt.part",
    ]
    archive = Archive(ArchiveConfig(tmp_path, folder="{call_id}"))
    repaired = archive.start()  # the next start repairs
    archive.close()
    assert sorted(p.name for p in repaired) == [
        "agent.wav",
        "customer.wav",
        "stereo.wav",
        "transcript.jsonl",
        "transcript.txt",
    ]
    assert archive.stats.repaired == 5
    total = 150 * 160
    agent = expected("agent", [(0, total)], total)
    customer = expected("customer", [(8000, total)], total)
    assert np.array_equal(read(folder / "agent.wav")[:, 0], agent)
    assert np.array_equal(read(folder / "customer.wav")[:, 0], customer)
    stereo = read(folder / "stereo.wav")
    assert np.array_equal(stereo[:, 0], agent) and np.array_equal(stereo[:, 1], customer)
    assert json.loads((folder / "transcript.jsonl").read_text())["text"] == "before the crash"
    assert (folder / "transcript.txt").read_text() == "[00:00.5] agent: before the crash\n"
