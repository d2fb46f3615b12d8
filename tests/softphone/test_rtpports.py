"""RTP port candidates: random even pairs by default, sequential on request, or any."""

from __future__ import annotations

import random

import pytest

from softphone.rtpports import RtpPorts


def test_random_ports_are_even_pairs_inside_the_range_and_not_a_sequence():
    ports = RtpPorts(None, 16385, 16400, random.Random(3))
    got = list(ports.candidates(400))
    assert set(got) == set(range(16386, 16400, 2))  # 16399 (RTCP of 16398) is the top
    wide = list(RtpPorts(None, 16384, 32767, random.Random(4)).candidates(50))
    steps = {b - a for a, b in zip(wide, wide[1:], strict=False)}
    assert len(steps) > 40 and all(16384 <= p <= 32766 and p % 2 == 0 for p in wide)


def test_an_explicit_first_port_is_handed_out_sequentially_as_taken():
    ports = RtpPorts(40000, 16384, 32767)
    first = ports.candidates(10)
    assert next(first) == 40000  # bound: the rest of this run is never taken
    assert list(ports.candidates(3)) == [40002, 40004, 40006]
    assert list(RtpPorts(65534, 16384, 32767).candidates(2)) == [65534, 65534]


def test_zero_means_the_kernels_choice():
    assert list(RtpPorts(0, 16384, 32767).candidates(3)) == [0, 0, 0]


def test_a_random_range_must_hold_two_pairs():
    with pytest.raises(ValueError):
        RtpPorts(None, 16384, 16385)
    with pytest.raises(ValueError):
        RtpPorts(None, 80, 2000)
