"""``bench.music``'s speech side on committed audio (the hold-music tracks are Debian's)."""

import numpy as np

from bench.music import FIXTURES, load, segments


def test_speech_segments_are_not_music_and_the_check_can_be_turned_off():
    pcm = load(FIXTURES / "short_answers.wav")
    assert pcm.dtype == np.int16
    ends, voiced, music = segments(pcm)
    assert len(ends) >= 20 and not any(e.music for e in ends)
    assert voiced > 0 and music <= voiced * 0.01
    off, _, none = segments(pcm, check=False)
    assert none == 0 and len(off) == len(ends)
