"""The relay on real loopback sockets: only the locked party reaches "PJMEDIA"."""

from __future__ import annotations

import socket
import struct

import pytest

from pbxsim.flood import flood_packets
from pbxsim.rtp import Packetizer
from softphone.config import DeviceConfig, MediaConfig, RtpGateConfig, TransportConfig
from softphone.rtpports import RtpPorts
from softphone.rtprelay import RelayError, RtpRelay, relay_for

from ..waiting import wait_for

LOOP = "127.0.0.1"


def udp() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((LOOP, 0))
    s.settimeout(2.0)
    return s


def received(sock: socket.socket, count: int) -> list[bytes]:
    out = []
    for _ in range(count):
        try:
            out.append(sock.recv(2048))
        except TimeoutError:
            break
    return out


def until(fn, timeout_s: float = 5.0):
    return wait_for(fn, timeout_s)


@pytest.fixture
def relay():
    r = RtpRelay(LOOP, RtpPorts(0, 16384, 32767))
    r.start()
    yield r
    r.stop()


def test_only_the_locked_partys_rtp_and_rtcp_reach_pjmedia(relay):
    pj_rtp, pj_rtcp, party, intruder = udp(), udp(), udp(), udp()
    handle, port = relay.open("leg-1", 0, "agent", pj_rtp.getsockname()[1],
                              pj_rtcp.getsockname()[1], frozenset({0}),
                              party.getsockname())  # fmt: skip
    for packet in flood_packets("ssrc2", 5, seed=99):  # a flood racing the party's first packet
        intruder.sendto(packet, (LOOP, port))
    pk = Packetizer(0, 0xABC, 100, 0)
    sent = []
    for n in range(20):
        sent.append(pk.packet(bytes([n]) * 160, 160))
        party.sendto(sent[-1], (LOOP, port))
        for packet in flood_packets("ssrc2", 5, seed=n) + flood_packets("garbage_v2", 5, seed=n):
            intruder.sendto(packet, (LOOP, port))
    # the flood held the lock until the party (from the offer's address) was heard
    assert received(pj_rtp, 25)[-20:] == sent  # 5 flood packets got through first
    sr = struct.pack("!BBHI", 0x80, 200, 6, 0xABC) + bytes(20)
    party.sendto(sr, (LOOP, port + 1))
    party.sendto(b"\x80\x00" + bytes(10), (LOOP, port + 1))  # not RTCP
    assert received(pj_rtcp, 1) == [sr]
    assert until(lambda: relay.streams()[0].rtcp_dropped == 1)
    (stream,) = relay.streams()
    c = stream.counters
    assert (stream.port, stream.label, c.forwarded, c.relearned) == (port, "agent", 25, 1)
    assert c.dropped == 200 and stream.source == party.getsockname()
    relay.close(handle)
    assert until(lambda: not relay.streams())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind((LOOP, port))  # the public port is free again
    for s in (pj_rtp, pj_rtcp, party, intruder):
        s.close()


def test_narrowed_payload_types_apply_to_an_open_stream(relay):
    pj_rtp, party = udp(), udp()
    handle, port = relay.open("leg-1", 0, "agent", pj_rtp.getsockname()[1], 9,
                              frozenset({0, 8}))  # fmt: skip
    pcma = Packetizer(8, 1, 1, 0)
    for _ in range(2):
        party.sendto(pcma.packet(b"x" * 160, 160), (LOOP, port))
    assert len(received(pj_rtp, 2)) == 2
    relay.narrow(handle, frozenset({0}))

    def refused() -> bool:
        party.sendto(pcma.packet(b"x" * 160, 160), (LOOP, port))
        return relay.streams()[0].counters.wrong_pt > 0

    assert until(refused)
    pj_rtp.close()
    party.close()


def test_random_ports_and_exhaustion():
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind((LOOP, 0))
    busy = taken.getsockname()[1]
    r = RtpRelay(LOOP, RtpPorts(busy, 0, 0))  # sequential from a port in use: the next pair
    try:
        _, port = r.open("leg", 0, "a", 9, 10, frozenset({0}))
        assert port > busy and port % 2 == busy % 2
    finally:
        r.stop()
        taken.close()
    r = RtpRelay("192.0.2.1", RtpPorts(None, 16384, 16387))  # not an address of this host
    with pytest.raises(RelayError):
        r.open("leg", 0, "a", 9, 10, frozenset({0}))
    r.stop()


def test_relay_for_follows_the_config():
    off = DeviceConfig(media=MediaConfig(rtp_gate=RtpGateConfig(enabled=False)))
    assert relay_for(off) is None
    r = relay_for(DeviceConfig(transport=TransportConfig(rtp_port=0)))
    assert r is not None
    try:
        _, port = r.open("leg", 0, "a", 9, 10, frozenset({0}))
        assert port > 0 and r.host == "127.0.0.1"
    finally:
        r.stop()
