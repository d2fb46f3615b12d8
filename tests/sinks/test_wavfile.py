import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from sinks.wavfile import HEADER_BYTES, WavFormatError, WavWriter, repair_wav


def ramp(n: int, start: int = 1) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.int16)


def read(path):
    data, rate = sf.read(path, dtype="int16", always_2d=True)
    return data, rate


def test_appends_and_the_header_is_right_after_each_flush(tmp_path):
    path = tmp_path / "a.wav"
    with open(path, "x+b") as f:
        w = WavWriter(f, 8000, 1)
        assert w.write(0, ramp(800)) == 1600
        w.flush()
        data, rate = read(path)  # readable while still open
        assert rate == 8000 and np.array_equal(data[:, 0], ramp(800))
        w.write(800, ramp(400, 801))
        w.close()
    data, _ = read(path)
    assert np.array_equal(data[:, 0], ramp(1200))
    assert path.stat().st_size == HEADER_BYTES + 2400


def test_write_past_the_end_pads_and_before_the_end_overwrites(tmp_path):
    path = tmp_path / "a.wav"
    with open(path, "x+b") as f:
        w = WavWriter(f, 8000, 1)
        w.write(100, ramp(100))  # 100 frames of silence first
        w.write(150, np.zeros(10, np.int16))  # overwrite in the middle
        w.write_silence(190, 20)  # zero the last 10, extend by 10
        w.close()
    data, _ = read(path)
    want = np.zeros(210, np.int16)
    want[100:200] = ramp(100)
    want[150:160] = 0
    want[190:] = 0
    assert np.array_equal(data[:, 0], want)


def test_write_channel_patches_one_channel_only(tmp_path):
    path = tmp_path / "s.wav"
    with open(path, "x+b") as f:
        w = WavWriter(f, 16000, 2)
        w.write(0, np.stack([ramp(100), -ramp(100)], axis=1))
        w.write_channel(50, 1, np.full(80, 7, np.int16))  # runs 30 frames past the end
        w.close()
    data, _ = read(path)
    assert data.shape == (130, 2)
    assert np.array_equal(data[:100, 0], ramp(100)) and not data[100:, 0].any()
    assert np.array_equal(data[:50, 1], -ramp(50)) and (data[50:, 1] == 7).all()


def test_widen_adds_silent_channels_and_goes_on_in_the_new_file(tmp_path):
    path, scratch = tmp_path / "s.wav", tmp_path / "s.wav.tmp"
    f = open(path, "x+b")
    w = WavWriter(f, 8000, 1)
    w.write(0, ramp(70000))  # more than one copy block
    w.widen(2, open(scratch, "x+b"))
    assert f.closed
    scratch.replace(path)
    w.write_channel(60000, 1, np.full(20000, 3, np.int16))
    w.close()
    data, _ = read(path)
    assert data.shape == (80000, 2)
    assert np.array_equal(data[:70000, 0], ramp(70000)) and not data[70000:, 0].any()
    assert not data[:60000, 1].any() and (data[60000:, 1] == 3).all()


def test_repair_keeps_every_flushed_frame_and_cuts_a_torn_one(tmp_path):
    path = tmp_path / "a.wav.part"
    f = open(path, "x+b")
    w = WavWriter(f, 8000, 2)
    w.write(0, np.stack([ramp(500), ramp(500)], axis=1))
    w.flush()
    f.write(b"\x01\x02\x03")  # a frame cut short by the crash; the header says 500 frames
    f.flush()
    assert repair_wav(path) == 500
    data, rate = read(path)
    assert rate == 8000 and data.shape == (500, 2) and np.array_equal(data[:, 1], ramp(500))


def test_repair_counts_frames_written_after_the_last_header_patch(tmp_path):
    path = tmp_path / "a.wav.part"
    with open(path, "x+b") as f:
        w = WavWriter(f, 8000, 1)
        w.flush()  # header says 0 frames
        w.write(0, ramp(300))
        f.flush()  # audio in the OS, header stale
    assert read(path)[0].shape[0] == 0
    assert repair_wav(path) == 300
    assert np.array_equal(read(path)[0][:, 0], ramp(300))


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")
def test_sox_reads_a_repaired_three_channel_file(tmp_path):
    path = tmp_path / "s.wav"
    f = open(path, "x+b")
    w = WavWriter(f, 8000, 3)
    w.write(0, np.ones((800, 3), np.int16))
    f.flush()
    f.close()
    repair_wav(path)
    out = subprocess.run(["soxi", "-s", str(path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "800"


def test_repair_refuses_what_it_did_not_write(tmp_path):
    path = tmp_path / "x.wav.part"
    path.write_bytes(b"RIFF" + b"\0" * 10)
    with pytest.raises(WavFormatError):
        repair_wav(path)
    sf.write(tmp_path / "f.wav", np.zeros(10, np.float32), 8000, subtype="FLOAT")
    with pytest.raises(WavFormatError):
        repair_wav(tmp_path / "f.wav")


def test_bad_shapes_are_rejected(tmp_path):
    with open(tmp_path / "a.wav", "x+b") as f:
        w = WavWriter(f, 8000, 2)
        with pytest.raises(ValueError):
            w.write(0, ramp(10))
        with pytest.raises(ValueError):
            w.write_channel(0, 2, ramp(10))
        with pytest.raises(ValueError):
            w.widen(2, f)
