"""The RTP gate: header checks, payload types, the source/SSRC lock and its re-learning."""

from __future__ import annotations

import struct

import pytest

from pbxsim.flood import flood_packets
from pbxsim.rtp import Packetizer
from softphone.rtpgate import (
    GateCounters,
    GatePolicy,
    RtpGate,
    Verdict,
    header_error,
    seq_ahead,
)

PARTY = ("198.51.100.7", 30000)
OTHER = ("203.0.113.9", 40000)


def gate(**kw) -> RtpGate:
    return RtpGate(GatePolicy(frozenset({0, 101}), **kw))


def stream(ssrc: int = 0x1234, pt: int = 0, seq: int = 65530) -> Packetizer:
    return Packetizer(pt, ssrc, seq, 1000)


def locked(g: RtpGate, pk: Packetizer, source=PARTY, now_ms: int = 0) -> None:
    assert g.push(pk.packet(b"\xff" * 160, 160), source, now_ms) is Verdict.FOREIGN
    assert g.push(pk.packet(b"\xff" * 160, 160), source, now_ms) is Verdict.FORWARD_HELD
    assert g.take_held()


def test_sequence_numbers_wrap():
    assert seq_ahead(2, 65535) == 3 and seq_ahead(5, 5) == 0 and seq_ahead(4, 5) == 65535


@pytest.mark.parametrize(
    ("packet", "why"),
    [
        (b"\x80\x00" + b"\0" * 9, "shorter than an RTP header"),
        (b"\x40\x00" + b"\0" * 20, "not RTP version 2"),
        (b"\x8f\x00" + b"\0" * 30, "CSRC list or extension past the end"),  # 15 CSRCs
        (
            b"\x90\x00" + b"\0" * 10 + b"\xbe\xde\x00\xc8" + b"\0" * 8,
            "CSRC list or extension past the end",
        ),
        (b"\x90\x00" + b"\0" * 11, "extension header past the end"),
        (b"\xa0\x00" + b"\0" * 10 + b"\x01\x02\x00", "bad padding length"),
        (b"\xa0\x00" + b"\0" * 10 + b"\x01\x02\x09", "bad padding length"),
        (b"\x80\x00" + b"\0" * 10, "no payload"),
        (b"\xa0\x00" + b"\0" * 10 + b"\x02\x02", "no payload"),  # all of it padding
        (b"\x80\x00" + b"\0" * 1499, "longer than PJMEDIA's receive buffer"),
    ],
)
def test_malformed_headers_are_named(packet, why):
    assert header_error(packet) == why
    g = gate()
    assert g.push(packet, PARTY, 0) is Verdict.MALFORMED
    assert g.counters().malformed == 1


def test_well_formed_headers_with_csrc_extension_and_padding_pass():
    head = struct.pack("!BBHII", 0x80 | 0x20 | 0x10 | 2, 0, 1, 160, 7) + b"\0" * 8  # 2 CSRCs
    ext = b"\xbe\xde\x00\x01" + b"\0" * 4
    assert header_error(head + ext + b"\x11" * 10 + b"\0\0\x03") is None
    assert header_error(stream().packet(b"x", 160)) is None


def test_a_stream_locks_on_its_second_in_sequence_packet_and_keeps_the_first():
    g = gate()
    pk = stream()
    first = pk.packet(b"a" * 160, 160)
    assert g.push(first, PARTY, 0) is Verdict.FOREIGN
    assert g.push(pk.packet(b"b" * 160, 160), PARTY, 20) is Verdict.FORWARD_HELD
    assert g.take_held() == first and g.take_held() == b""
    assert g.push(pk.packet(b"c" * 160, 160), PARTY, 40) is Verdict.FORWARD
    assert g.counters() == GateCounters(forwarded=3, locked=(PARTY[0], PARTY[1], 0x1234))


def test_learning_restarts_when_another_source_interleaves():
    g = gate()
    a, b = stream(1), stream(2)
    assert g.push(a.packet(b"x", 160), PARTY, 0) is Verdict.FOREIGN
    assert g.push(b.packet(b"x", 160), OTHER, 0) is Verdict.FOREIGN
    assert g.push(a.packet(b"x", 160), PARTY, 0) is Verdict.FOREIGN  # counting from 1 again
    assert g.push(a.packet(b"x", 160), PARTY, 0) is Verdict.FORWARD_HELD


def test_learn_packets_one_locks_on_the_first_packet():
    g = gate(learn_packets=1)
    assert g.push(stream().packet(b"x", 160), PARTY, 0) is Verdict.FORWARD


@pytest.mark.parametrize("pt", [8, 9, 13, 96, 127, 72])
def test_payload_types_outside_the_negotiated_set_are_dropped(pt):
    g = gate()
    locked(g, stream())
    assert g.push(stream(pt=pt).packet(b"x", 160), PARTY, 0) is Verdict.WRONG_PT
    assert g.counters().wrong_pt == 1
    g.set_payload_types(frozenset({pt}))
    assert g.push(stream(pt=0).packet(b"x", 160), PARTY, 0) is Verdict.WRONG_PT


def test_a_second_ssrc_or_source_never_replaces_a_live_party():
    g = gate()
    party = stream(0x1234)
    locked(g, party)
    intruders = [(stream(0x9999), PARTY), (stream(0x1234), OTHER), (stream(0x5555), OTHER)]
    for n in range(1, 2001):  # 40 s: 20 intruder packets per party packet
        now = n * 20
        for pk, source in intruders:
            for _ in range(7):
                assert g.push(pk.packet(b"\x00" * 160, 160), source, now) is Verdict.FOREIGN
        assert g.push(party.packet(b"\xff" * 160, 160), PARTY, now) is Verdict.FORWARD
    c = g.counters()
    assert (c.forwarded, c.foreign, c.relearned) == (2002, 2000 * 21, 0)
    assert c.locked == (PARTY[0], PARTY[1], 0x1234) and c.dropped == c.foreign


def test_the_lock_moves_after_the_party_is_silent_and_a_new_source_is_sustained():
    g = gate(relearn_silence_ms=1000, relearn_packets=10)
    locked(g, stream(1), now_ms=0)
    new = stream(2)
    verdicts = [g.push(new.packet(b"x", 160), OTHER, 500 + 20 * n) for n in range(30)]
    # silent since 0 ms: the 10th in-sequence packet after 1000 ms takes the lock (at 1000 ms)
    assert verdicts.index(Verdict.FORWARD) == 25
    assert set(verdicts[:25]) == {Verdict.FOREIGN} and set(verdicts[25:]) == {Verdict.FORWARD}
    c = g.counters()
    assert c.relearned == 1 and c.locked == (OTHER[0], OTHER[1], 2)
    # and the old source is now the stranger
    assert g.push(stream(1, seq=9).packet(b"x", 160), PARTY, 2000) is Verdict.FOREIGN


def test_a_challenger_out_of_sequence_does_not_take_over():
    g = gate(relearn_silence_ms=0, relearn_packets=3)
    locked(g, stream(1))
    for n in range(50):  # every packet a fresh sequence number far away
        pk = Packetizer(0, 2, (n * 4000) & 0xFFFF, 0)
        assert g.push(pk.packet(b"x", 160), OTHER, 10_000) is Verdict.FOREIGN
    assert g.counters().relearned == 0


@pytest.mark.parametrize("kind", ["garbage", "garbage_v2", "wrong_pt", "bad_header", "ssrc2"])
def test_no_flood_kind_gets_through_beside_a_live_party(kind):
    g = gate()
    party = stream()
    locked(g, party)
    flood = flood_packets(kind, 5000, seed=7)
    forwarded = 0
    for n, packet in enumerate(flood):
        now = n // 50  # 50 flood packets per ms: the party sends every 20 ms
        if n % 1000 == 0:
            assert g.push(party.packet(b"\xff" * 160, 160), PARTY, now) is Verdict.FORWARD
        forwarded += g.push(packet, OTHER, now) in (Verdict.FORWARD, Verdict.FORWARD_HELD)
    c = g.counters()
    assert forwarded == 0 and c.dropped == len(flood) and c.forwarded == 2 + 5


def test_policy_is_checked():
    with pytest.raises(ValueError):
        GatePolicy(frozenset())
    with pytest.raises(ValueError):
        GatePolicy(frozenset({128}))
    with pytest.raises(ValueError):
        GatePolicy(frozenset({0}), learn_packets=0)


def test_the_offers_address_takes_the_lock_from_a_flood_that_raced_the_party():
    g = RtpGate(GatePolicy(frozenset({0}), expected_source=PARTY))
    flood = stream(0x9999)
    for _ in range(2):
        g.push(flood.packet(b"x", 160), OTHER, 0)
    assert g.counters().locked == (OTHER[0], OTHER[1], 0x9999)  # the race was lost ...
    party = stream(0x1234)
    assert g.push(party.packet(b"x", 160), PARTY, 20) is Verdict.FORWARD  # ... and won back
    for n in range(200):  # the flood never gets it back while the party talks
        assert g.push(flood.packet(b"x", 160), OTHER, 40 + n) is Verdict.FOREIGN
        if n % 20 == 0:
            assert g.push(party.packet(b"x", 160), PARTY, 40 + n) is Verdict.FORWARD
    assert g.counters().relearned == 1 and g.counters().locked == (PARTY[0], PARTY[1], 0x1234)


def test_without_a_race_the_offers_address_locks_on_its_first_packet():
    g = RtpGate(GatePolicy(frozenset({0}), expected_source=PARTY))
    assert g.push(stream().packet(b"x", 160), PARTY, 0) is Verdict.FORWARD
    assert g.counters() == GateCounters(forwarded=1, locked=(PARTY[0], PARTY[1], 0x1234))
