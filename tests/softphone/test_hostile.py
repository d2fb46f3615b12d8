"""Hostile INVITEs against a real ``listenin run`` process, then a real call through it.

Every case of the table is sent over UDP to one ``listenin run`` process behind its
kamailio front (the default where kamailio is installed); each must get the status
the table names, from the side the table names (the front's own rules, or the
device behind it), the process must still be alive after it, and a supervised
call placed by the simulator afterwards must still be answered and transcribed.
The same table is sent to a bare in-process device, which must answer each case
itself with the same status (its own admission, for ``--front none``).
"""

from __future__ import annotations

import shutil
import socket
import time

import numpy as np
import pytest

from pbxsim.g711 import ENCODERS
from pbxsim.hostile import RawInvite, reason_of, sdp
from pbxsim.rtp import Packetizer
from records.device import LegAnswered, LegEnded, LegRejected

from .conftest import device_config, drain
from .running import RunningDevice, answered_by, free_udp_port, place_call, wait_until_answering

GOOD = sdp()
# PJSUA opens RTP/RTCP sockets for every offered audio line (up to 16) before the device
# sees the INVITE, and PJSIP reuses a closed socket's ioqueue slot only after 500 ms: two
# 16-line offers inside that window exhaust its 64 slots and abort (README, SIP front).
PJSIP_SOCKET_REUSE_S = 0.6
FRONT, DEVICE = "front", "device"

# (case, how to send it, the status the peer sees, who answers it behind the front)
CASES = [
    ("no body (late offer)", dict(body="", content_type=None), 488, FRONT),
    ("empty SDP body", dict(body="", content_type="application/sdp"), 488, FRONT),
    ("text/plain body", dict(body="hello", content_type="text/plain"), 415, DEVICE),
    (
        "multipart body",
        dict(body="--b\r\n\r\nx\r\n--b--\r\n", content_type="multipart/mixed;boundary=b"),
        415,
        DEVICE,
    ),
    ("untyped SDP body", dict(body=GOOD, content_type=None), 415, DEVICE),
    ("Content-Length too long", dict(body=GOOD, content_length=len(GOOD) + 30), 400, FRONT),
    ("Content-Length 999999999", dict(body=GOOD, content_length=999999999), 400, FRONT),
    ("Content-Length too short", dict(body=GOOD, content_length=40), 400, FRONT),
    ("63 KB header", dict(body=GOOD, headers=["X-Pad: " + "a" * 63000]), 513, FRONT),
    ("5 KB header", dict(body=GOOD, headers=["X-Pad: " + "a" * 5000]), 513, FRONT),
    ("17 KB SDP", dict(body=GOOD + "a=x:" + "y" * 17000 + "\r\n"), 513, FRONT),
    ("5 audio streams", dict(body=sdp(["audio"] * 5)), 488, FRONT),
    ("20 audio streams", dict(body=sdp(["audio"] * 20)), 488, FRONT),
    ("50 audio streams", dict(body=sdp(["audio"] * 50)), 513, FRONT),
    ("video only", dict(body=sdp(["video"])), 488, DEVICE),
    ("same party twice", dict(body=sdp(["audio", "audio"], ["p1", "p1"])), 400, DEVICE),
    ("not SDP", dict(body="garbage\r\n"), 400, DEVICE),
    ("bad m= line", dict(body="v=0\r\nm=audio x RTP/AVP 0\r\n"), 400, DEVICE),
    ("bad session header", dict(body=GOOD, headers=["X-Session-Id: a b;c"]), 400, DEVICE),
    ("ESC in party id", dict(body=sdp(["audio"], ["p\x1b[31mred"])), None, DEVICE),
]


def send_cases(dest: tuple[str, int], alive) -> dict[str, tuple[int | None, str | None]]:
    """Each case in turn: ``name -> (final status, who answered)``; ``alive()`` after each."""
    got = {}
    for name, how, _, _ in CASES:
        inv = RawInvite(dest).send(**how)
        status = inv.final(timeout_s=2.0)
        got[name] = (status, answered_by(inv) if status is not None else None)
        if status == 200:  # answered: finish the dialog so it frees its slot
            inv.ack()
            inv.bye()
        inv.close()
        assert alive(), f"died on {name!r}"
        time.sleep(PJSIP_SOCKET_REUSE_S)
    return got


def test_hostile_invites_are_answered_and_a_real_call_still_transcribes(tmp_path):
    if shutil.which("kamailio") is None:
        pytest.skip("kamailio is not installed (apt-get install kamailio)")
    port = free_udp_port()
    dest = ("127.0.0.1", port)
    dev = RunningDevice(port, tmp_path, "--front", "kamailio")
    try:
        wait_until_answering(dest, dev)
        got = send_cases(dest, dev.alive)
        esc = got["ESC in party id"]
        assert esc in ((200, DEVICE), (400, DEVICE), (None, None))
        assert got == {name: (status, by) for name, _, status, by in CASES} | {
            "ESC in party id": esc
        }, dev.log()
        assert "\x1b" not in dev.log()
        text = place_call(port, dev)
        assert len(text.split()) >= 5, (text, dev.log())
    finally:
        dev.stop()


# -- the same device in this process, where its records can be read -------------------


def test_the_device_alone_answers_every_hostile_case_itself(make_device):
    """``--front none``: the device's own admission gives the peer the same statuses."""
    dev = make_device()
    dest = ("127.0.0.1", int(dev.address.rsplit(":", 1)[1]))
    got = send_cases(dest, lambda: dev.running)
    assert got["ESC in party id"][0] in (200, 400, None)
    want = {name: (status, DEVICE if status else None) for name, _, status, _ in CASES}
    assert got == want | {"ESC in party id": got["ESC in party id"]}


def test_a_refusal_beside_an_answer_leaves_no_ghost_call(make_device):
    """Refused and accepted INVITEs arriving together, round after round (pjsua call slots
    are reused): each answered call stays up until its own BYE and then ends."""
    dev = make_device()
    dest = ("127.0.0.1", int(dev.address.rsplit(":", 1)[1]))
    for _ in range(6):
        bad = RawInvite(dest).send(body="")  # no offer: refused 488
        good = RawInvite(dest).send(body=GOOD)
        assert (bad.final(), good.final()) == (488, 200)
        good.ack()
        got = drain(dev, lambda g: len(g.of(LegAnswered)) == 1, 5)
        good.sock.settimeout(1.0)  # the device must not hang up by itself
        with pytest.raises(TimeoutError):
            while True:
                data, _ = good.sock.recvfrom(65536)
                assert not data.startswith(b"BYE"), "device hung up an answered call"
        good.bye()
        got = drain(dev, lambda g: len(g.of(LegEnded)) == 1, 10, into=got)
        assert [e.session_id for e in got.of(LegEnded)] == [got.of(LegAnswered)[0].session_id]
        bad.close()
        good.close()
    assert dev.open_legs == 0


def test_a_200_never_acked_stops_counting_against_the_call_limit(make_device):
    dev = make_device(device_config(ack_timeout_s=1.0, max_calls=1))
    dest = ("127.0.0.1", int(dev.address.rsplit(":", 1)[1]))
    silent = RawInvite(dest).send(body=GOOD)
    assert silent.final() == 200  # and never ACKed
    got = drain(dev, lambda g: len(g.of(LegEnded)) == 1, 10)
    assert got.of(LegEnded) and dev.open_legs == 0
    later = RawInvite(dest).send(body=GOOD)  # the one slot is free again
    assert later.final() == 200
    later.ack()
    later.bye()


def test_audio_after_a_refused_video_stream_is_tapped(make_device):
    dev = make_device()
    dest = ("127.0.0.1", int(dev.address.rsplit(":", 1)[1]))
    inv = RawInvite(dest).send(body=sdp(["video", "audio"], [None, "p1"]))
    assert inv.final() == 200
    inv.ack()
    ports = inv.answer_ports()
    assert len(ports) == 1 and ports[0][1] != 0
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(8000 * 2) / 8000)).astype(np.int16)
    pt, encode = ENCODERS["PCMU"]
    pk = Packetizer(pt, ssrc=0x1234)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtp:
        for n in range(tone.size // 160):
            rtp.sendto(pk.packet(encode(tone[n * 160 : (n + 1) * 160]), 160), ports[0])
            time.sleep(0.02)
    got = drain(dev, lambda g: sum(len(f) for f in g.frames.values()) >= 60, 10)
    inv.bye()
    (key,) = got.frames  # one party, the audio stream
    loud = np.concatenate([f.pcm for f in got.frames[key]]).astype(np.float32)
    assert np.sqrt((loud**2).mean()) > 1000  # the tone, not silence


def test_an_invite_flood_from_one_source_gets_503(make_device):
    dev = make_device(device_config(invite_rate_per_s=1.0, invite_burst=2))
    dest = ("127.0.0.1", int(dev.address.rsplit(":", 1)[1]))
    sent = [RawInvite(dest).send(body="") for _ in range(4)]
    assert [inv.final() for inv in sent] == [488, 488, 503, 503]
    assert sent[-1].final_msg.get("retry-after") == "1"
    assert len(drain(dev, lambda g: len(g.of(LegRejected)) == 4, 5).of(LegRejected)) == 4


def test_a_busy_device_refuses_new_calls_503_and_keeps_the_call_in_progress(make_device):
    dev = make_device()
    busy: list[str | None] = [None]
    dev.busy = lambda: busy[0]  # what the live job sets: the ASR load gate
    dest = ("127.0.0.1", int(dev.address.rsplit(":", 1)[1]))
    first = RawInvite(dest).send(body=GOOD)
    assert first.final() == 200
    first.ack()
    busy[0] = "ASR overloaded: 5 finals queued > 4"
    later = RawInvite(dest).send(body=GOOD)
    try:
        assert later.final() == 503
        assert reason_of(later) == busy[0]
        assert int(later.final_msg.get("retry-after") or 0) >= 1
        got = drain(dev, lambda g: bool(g.of(LegRejected)), 5)
        assert [(r.status, r.reason) for r in got.of(LegRejected)] == [(503, busy[0])]
        assert not got.of(LegEnded) and dev.open_legs == 1  # the call in progress goes on
    finally:
        first.bye()
        first.close()
        later.close()
