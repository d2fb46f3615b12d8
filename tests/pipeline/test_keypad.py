"""Keyed digits of a party: tones silenced before the VAD/ASR, RFC 4733 merged in."""

import threading

import numpy as np
import pytest

from pipeline.dtmf import DtmfConfig
from pipeline.keypad import DigitSource, Keypad
from pipeline.party import StreamConfig
from pipeline.runtime import Pipeline, PipelineConfig
from records.events import Dtmf, TranscriptFinal, TranscriptPartial
from records.frames import AudioFrame, Gap
from tests.pipeline.test_dtmf import key, noise, silence

CARD = "4111222233334444"


def keyed(digits: str, on_ms: int, off_ms: int, dbfs: float) -> np.ndarray:
    """int16 party audio: 0.3 s quiet, the digits keyed, 1.5 s quiet, faint noise throughout."""
    parts = [silence(300)]
    for d in digits:
        parts += [key(d, on_ms, dbfs=dbfs), silence(off_ms)]
    parts.append(silence(1500))
    return (noise(np.concatenate(parts), -60) * 32767).astype(np.int16)


def run(keypad: Keypad, pcm: np.ndarray, start: int = 0) -> np.ndarray:
    out = []
    for i in range(0, pcm.size, 160):
        out += keypad.push(AudioFrame("c", "p", 8000, start + i, pcm[i : i + 160]))
    out += keypad.flush()
    assert [f.start for f in out] == list(np.cumsum([start] + [f.samples for f in out])[:-1])
    return np.concatenate([f.pcm for f in out])


def test_tones_leave_as_silence_and_the_rest_is_untouched():
    rng = np.random.default_rng(3)
    talk = (rng.normal(0, 3000, 4000)).astype(np.int16)  # speech-level noise, 0.5 s
    tone = (key("5", 100) * 32767).astype(np.int16)
    pcm = np.concatenate([talk, tone, talk])
    keypad = Keypad(8000)
    out = run(keypad, pcm, start=800)
    assert out.size == pcm.size
    assert [(d.digit, d.source) for d in keypad.take()] == [("5", DigitSource.INBAND)]
    assert not out[4000:4800].any()  # the whole tone is silence
    blanked = np.flatnonzero(out != pcm)
    assert blanked.min() >= 4000 - 8 * 20 and blanked.max() < 4800 + 8 * 20  # guard: 10 ms
    assert keypad.blanked_samples < 800 + 2 * 80 + 2 * 205


def test_audio_without_tones_passes_unchanged():
    pcm = (noise(silence(2000), -20) * 32767).astype(np.int16)
    keypad = Keypad(8000)
    assert np.array_equal(run(keypad, pcm), pcm)
    assert keypad.take() == [] and keypad.blanked_samples == 0


def test_a_gap_releases_the_held_audio_first():
    keypad = Keypad(8000)
    frame = AudioFrame("c", "p", 8000, 0, np.ones(160, dtype=np.int16))
    assert keypad.push(frame) == []  # held: could be the start of a tone
    gap = Gap("c", "p", 8000, 160, 8000)
    assert keypad.push(gap) == [frame, gap]


def test_one_press_heard_both_ways_is_reported_once():
    keypad = Keypad(8000)
    run(keypad, keyed("77", 100, 100, -10))  # in-band: 7 at 0.3-0.4 s, 7 at 0.5-0.6 s
    keypad.told("7", 0.29, 0.41, DigitSource.RFC4733)  # the first press, also signalled
    keypad.told("7", 0.52, 0.6, DigitSource.RFC4733)  # the second
    keypad.told("7", 1.5, 1.6, DigitSource.RFC4733)  # a press the audio did not carry
    keypad.told("8", 0.3, 0.4, DigitSource.RFC4733)  # another key
    digits = [(d.digit, d.source.value, round(d.start, 1)) for d in keypad.take()]
    assert digits == [("7", "inband", 0.3), ("7", "inband", 0.5), ("7", "rfc4733", 1.5),
                      ("8", "rfc4733", 0.3)]  # fmt: skip
    assert keypad.duplicates == 2


def test_signalled_first_then_heard_is_reported_once():
    keypad = Keypad(8000)
    keypad.told("#", 0.3, 0.4, DigitSource.RFC4733)
    run(keypad, keyed("#", 100, 100, -10))
    assert [d.source for d in keypad.take()] == [DigitSource.RFC4733]


class Events(list):
    def __init__(self):
        super().__init__()
        self.done = threading.Event()

    def __call__(self, ev):
        self.append(ev)
        if ev.type == "call.ended":
            self.done.set()


def replay(engine, pcm: np.ndarray, dtmf: DtmfConfig) -> list:
    events = Events()
    config = PipelineConfig(stream=StreamConfig(dtmf=dtmf), asr_workers=1)
    pipeline = Pipeline(engine, events, config)
    for i in range(0, pcm.size, 160):
        pipeline.push(AudioFrame("c", "customer", 8000, i, pcm[i : i + 160]))
    pipeline.keyed("c", "customer", "4", 0.29, 0.52)  # the first press, also signalled
    pipeline.end_call("c")
    assert events.done.wait(120)
    pipeline.close()
    return list(events)


@pytest.mark.parametrize(("on_ms", "off_ms", "dbfs"), [(200, 60, -8), (300, 150, -15)])
def test_keyed_card_number_gives_dtmf_events_and_no_text(engine, on_ms, off_ms, dbfs):
    pcm = keyed(CARD, on_ms, off_ms, dbfs)
    events = replay(engine, pcm, DtmfConfig())
    digits = [e for e in events if isinstance(e, Dtmf)]
    assert "".join(d.digit for d in digits) == CARD
    assert {d.source for d in digits} == {"inband"}  # the signalled "4" was the same press
    for i, d in enumerate(digits):
        start = 0.3 + i * (on_ms + off_ms) / 1000
        assert abs(d.start - start) < 0.02 and abs(d.end - start - on_ms / 1000) < 0.02, d
        assert d.emitted_at >= d.end
    texts = [e.text for e in events if isinstance(e, TranscriptFinal | TranscriptPartial)]
    assert not any(texts), texts


def test_without_the_keypad_the_decoder_writes_text_for_the_tones(engine):
    """The control for the test above: the decoder itself, given the key presses, writes
    words ("Beep Beep") or punctuation for some of them; only the keypad keeps them out
    (the pipeline's later guards catch some of it too, so the control is the decoder)."""
    import soxr

    pcm = keyed(CARD, 300, 150, -15)
    audio = soxr.resample(pcm.astype(np.float32) / 32768, 8000, 16000)
    heard = [
        engine.transcribe(audio[s : s + 48000], word_timestamps=False, partial=partial).text
        for s in range(0, audio.size - 48000, 32000)
        for partial in (False, True)
    ]
    assert any(heard), heard
