import numpy as np
import pytest

from pbxsim.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

RAMP = np.arange(-32768, 32768, 7, dtype=np.int32).astype(np.int16)


@pytest.mark.parametrize("enc,dec", [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)])
def test_round_trip_error_is_within_the_g711_step(enc, dec):
    out = dec(enc(RAMP)).astype(np.int32)
    err = np.abs(out - RAMP)
    assert len(enc(RAMP)) == RAMP.size
    assert np.all(err <= np.maximum(np.abs(RAMP.astype(np.int32)) * 0.035, 16))


def test_silence_encodes_to_the_idle_codes():
    zero = np.zeros(4, np.int16)
    assert ulaw_encode(zero) == b"\xff" * 4 and alaw_encode(zero) == b"\xd5" * 4


def test_alaw_matches_the_reference_encoder():
    audioop = pytest.importorskip("audioop")
    assert alaw_encode(RAMP) == audioop.lin2alaw(RAMP.tobytes(), 2)
