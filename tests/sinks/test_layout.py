import numpy as np
import pytest

from records.frames import AudioFrame, Gap
from sinks.layout import CallLayout, Chunk, PauseError


def signal(party_sign: int, start: int, n: int) -> np.ndarray:
    """Samples that name their own call-clock index: misplacing one shows."""
    idx = np.arange(start, start + n)
    return (party_sign * (idx % 30000 + 1)).astype(np.int16)


def frame(party: str, start: int, n: int = 160, rate: int = 8000) -> AudioFrame:
    sign = 1 if party == "agent" else -1
    return AudioFrame("c", party, rate, start, signal(sign, start, n))


class Disk:
    """Applies chunks the way the WAV writer does, to arrays (key None: the N-channel file)."""

    def __init__(self) -> None:
        self.files: dict[str | None, np.ndarray] = {}
        self.rates: dict[str | None, int] = {}
        self.appends_only = True

    def apply(self, chunks: list[Chunk]) -> None:
        for c in chunks:
            ch = len(c.channels)
            arr = self.files.get(c.party, np.zeros((0, ch), np.int16))
            self.rates.setdefault(c.party, c.sample_rate)
            assert self.rates[c.party] == c.sample_rate
            if arr.shape[1] < ch:
                arr = np.pad(arr, ((0, 0), (0, ch - arr.shape[1])))
            end = c.offset + c.frames
            if c.offset < arr.shape[0]:
                self.appends_only = False
            if arr.shape[0] < end:
                arr = np.pad(arr, ((0, end - arr.shape[0]), (0, 0)))
            if c.silence:
                arr[c.offset : end] = 0
            elif c.channel is not None:
                arr[c.offset : end, c.channel] = c.pcm
            else:
                arr[c.offset : end] = c.pcm.reshape(c.frames, -1)
            self.files[c.party] = arr

    def mono(self, party: str) -> np.ndarray:
        return self.files[party][:, 0]


def expected(party: str, spans: list[tuple[int, int]], total: int) -> np.ndarray:
    sign = 1 if party == "agent" else -1
    out = np.zeros(total, np.int16)
    for a, b in spans:
        out[a:b] = signal(sign, a, b - a)
    return out


def run(layout: CallLayout, items, disk: Disk | None = None) -> Disk:
    disk = disk or Disk()
    for item in items:
        disk.apply(layout.push(item))
    return disk


def test_late_join_gap_and_early_leave_align_exactly():
    layout = CallLayout("c")
    disk = Disk()
    for i in range(100):  # 2 s of 20 ms frames
        t = i * 160
        disk.apply(layout.push(frame("agent", t)))
        if 20 <= i < 50 or 60 <= i <= 80:  # joins at 0.4 s, misses 50..60, leaves after 80
            disk.apply(layout.push(frame("customer", t)))
        if i == 50:
            disk.apply(layout.push(Gap("c", "customer", 8000, 50 * 160, 10 * 160)))
        if i == 80:
            disk.apply(layout.end_party("customer"))
    disk.apply(layout.flush())
    total = 100 * 160
    agent = expected("agent", [(0, total)], total)
    customer = expected("customer", [(3200, 8000), (9600, 81 * 160)], total)
    assert np.array_equal(disk.mono("agent"), agent)
    assert np.array_equal(disk.mono("customer"), customer)
    stereo = disk.files[None]
    assert stereo.shape == (total, 2)
    assert np.array_equal(stereo[:, 0], agent) and np.array_equal(stereo[:, 1], customer)
    assert layout.parties == ("agent", "customer")


def test_party_joining_after_the_stereo_file_opened_widens_and_patches():
    layout = CallLayout("c", join_window_ms=500)
    disk = Disk()
    for i in range(150):
        t = i * 160
        disk.apply(layout.push(frame("agent", t)))
        if i >= 100:  # joins at 2 s; its first frames arrive after the agent's
            disk.apply(layout.push(frame("customer", t - 3 * 160)))
    disk.apply(layout.flush())
    total = 150 * 160
    stereo = disk.files[None]
    assert stereo.shape == (total, 2)
    assert np.array_equal(stereo[:, 0], expected("agent", [(0, total)], total))
    assert np.array_equal(stereo[:, 1], expected("customer", [(97 * 160, 147 * 160)], total))
    assert layout.patched_frames > 0  # its first frames landed behind the file's end


def test_a_jump_in_a_partys_frames_is_silence():
    disk = run(CallLayout("c"), [frame("agent", 0, 800), frame("agent", 4000, 8000)])
    assert np.array_equal(disk.mono("agent"), expected("agent", [(0, 800), (4000, 12000)], 12000))


def test_overlapping_frames_are_trimmed():
    disk = run(CallLayout("c"), [frame("agent", 0, 800), frame("agent", 600, 400)])
    assert np.array_equal(disk.mono("agent"), expected("agent", [(0, 1000)], 1000))


def test_a_frame_at_another_rate_is_ignored_and_counted():
    layout = CallLayout("c")
    run(layout, [frame("agent", 0), frame("agent", 320, rate=16000)])
    assert layout.ignored_frames == 1


def test_lagging_party_does_not_hold_the_stereo_file_and_is_patched_in():
    layout = CallLayout("c", max_skew_ms=500)  # 4000 samples
    disk = Disk()
    disk.apply(layout.push(frame("customer", 0)))
    for i in range(100):
        disk.apply(layout.push(frame("agent", i * 160)))
    assert layout.position == 100 * 160 - 4000  # not held at the customer's 160
    for i in range(1, 100):  # the customer's audio comes in late
        disk.apply(layout.push(frame("customer", i * 160)))
    disk.apply(layout.flush())
    total = 100 * 160
    assert layout.parties == ("customer", "agent")  # channels in join order
    assert np.array_equal(disk.files[None][:, 0], expected("customer", [(0, total)], total))
    assert np.array_equal(disk.files[None][:, 1], expected("agent", [(0, total)], total))
    assert layout.patched_frames == 12000 - 160  # what was late, patched into its channel


def test_pause_writes_silence_and_redacts_what_was_already_written():
    layout = CallLayout("c")
    disk = Disk()
    for i in range(50):  # 1 s, both parties
        disk.apply(layout.push(frame("agent", i * 160)))
        disk.apply(layout.push(frame("customer", i * 160)))
    disk.apply(layout.pause(0.8))  # came late: 0.8..1.0 s is already on disk
    with pytest.raises(PauseError):
        layout.pause(0.9)
    for i in range(50, 75):
        disk.apply(layout.push(frame("agent", i * 160)))
        disk.apply(layout.push(frame("customer", i * 160)))
    layout.resume(1.5)
    with pytest.raises(PauseError):
        layout.resume(1.6)
    for i in range(75, 125):
        disk.apply(layout.push(frame("agent", i * 160)))
        disk.apply(layout.push(frame("customer", i * 160)))
    disk.apply(layout.flush())
    total = 125 * 160
    for ch, party in enumerate(("agent", "customer")):
        want = expected(party, [(0, 6400), (12000, total)], total)
        assert np.array_equal(disk.mono(party), want)
        assert np.array_equal(disk.files[None][:, ch], want)
    assert not disk.appends_only  # the redaction overwrote


def test_pause_before_any_audio_keeps_the_call_silent():
    layout = CallLayout("c")
    layout.pause(0.0)
    disk = run(layout, [frame("agent", i * 160) for i in range(10)])
    disk.apply(layout.flush())
    assert not disk.mono("agent").any() and not disk.files[None].any()


def test_mixed_rates_share_the_highest_rate_in_the_stereo_file():
    layout = CallLayout("c")
    disk = Disk()
    click_16k = np.zeros(32000, np.int16)
    click_16k[16000] = 20000  # agent (G.722): a click at 1.0 s
    click_8k = np.zeros(16000, np.int16)
    click_8k[12000] = 20000  # customer (G.711): a click at 1.5 s
    for i in range(100):
        a = AudioFrame("c", "agent", 16000, i * 320, click_16k[i * 320 : (i + 1) * 320])
        b = AudioFrame("c", "customer", 8000, i * 160, click_8k[i * 160 : (i + 1) * 160])
        disk.apply(layout.push(a))
        disk.apply(layout.push(b))
    disk.apply(layout.flush())
    assert disk.rates == {"agent": 16000, "customer": 8000, None: 16000}
    assert np.array_equal(disk.mono("customer"), click_8k)  # party files keep their rate
    stereo = disk.files[None]
    assert stereo.shape == (32000, 2)
    assert np.array_equal(stereo[:, 0], click_16k)
    assert abs(int(np.argmax(stereo[:, 1])) - 24000) <= 1  # resampled, still on the call clock


def test_stereo_rate_can_be_fixed():
    layout = CallLayout("c", stereo_rate_hz=16000)
    disk = run(layout, [frame("agent", i * 160) for i in range(50)])
    disk.apply(layout.flush())
    assert disk.rates[None] == 16000 and disk.files[None].shape == (16000, 1)


def test_every_file_is_padded_to_the_end_of_the_call():
    layout = CallLayout("c")
    disk = run(layout, [frame("agent", 0, 8000), frame("customer", 0, 4000)])
    disk.apply(layout.flush(until_s=1.5))
    assert disk.mono("agent").shape == (12000,) and disk.mono("customer").shape == (12000,)
    assert disk.files[None].shape == (12000, 2)


def test_a_call_shorter_than_the_join_window_still_gets_its_stereo_file():
    layout = CallLayout("c", join_window_ms=500)
    disk = run(layout, [frame("agent", 0, 800)])
    assert None not in disk.files
    disk.apply(layout.flush())
    assert np.array_equal(disk.files[None][:, 0], expected("agent", [(0, 800)], 800))


def test_long_gaps_are_written_as_silence_chunks_not_arrays():
    layout = CallLayout("c")
    chunks = layout.push(frame("agent", 0, 8000))
    chunks += layout.push(Gap("c", "agent", 8000, 8000, 8000 * 3600))
    chunks += layout.push(frame("agent", 8000 * 3601, 160))
    chunks += layout.flush()
    assert max(c.pcm.nbytes for c in chunks) <= 2 * 8000 * 2  # an hour of silence, no hour array


def test_a_late_party_at_a_lower_rate_is_resampled_into_place_without_holding_the_file():
    layout = CallLayout("c")
    disk = Disk()
    click_8k = np.zeros(16000, np.int16)
    click_8k[12000] = 20000  # customer: a click at 1.5 s
    for i in range(100):  # agent at 16 kHz from 0; the customer (8 kHz) joins at 1 s
        disk.apply(layout.push(AudioFrame("c", "agent", 16000, i * 320, np.ones(320, np.int16))))
        if i >= 50:
            b = AudioFrame("c", "customer", 8000, i * 160, click_8k[i * 160 : (i + 1) * 160])
            disk.apply(layout.push(b))
        if i == 60:
            assert layout.position >= 61 * 320 - 400  # held by the filter delay only
    disk.apply(layout.flush())
    stereo = disk.files[None]
    assert disk.rates[None] == 16000 and stereo.shape == (32000, 2)
    assert (stereo[:, 0] == 1).all()
    assert abs(int(np.argmax(stereo[:, 1])) - 24000) <= 1
    assert not stereo[:16000, 1].any()
