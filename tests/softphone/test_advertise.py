"""The SDP answer advertises the relay's ports; the payload types a stream may carry."""

from __future__ import annotations

from softphone.advertise import (
    LocalMedia,
    accepted_payload_types,
    advertise,
    local_media,
    offered_source,
)
from softphone.sdp import parse_sdp

PJSIP_ANSWER = (
    "v=0\r\no=- 4005219810 4005219810 IN IP4 127.0.0.1\r\ns=pjmedia\r\nb=AS:84\r\nt=0 0\r\n"
    "a=X-nat:0\r\n"
    "m=audio 43291 RTP/AVP 0 8 9 120\r\nc=IN IP4 127.0.0.1\r\nb=TIAS:64000\r\n"
    "a=rtcp:43292 IN IP4 127.0.0.1\r\na=recvonly\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\na=rtpmap:9 G722/8000\r\na=rtpmap:120 telephone-event/8000\r\n"
    "a=fmtp:120 0-16\r\n"
    "m=video 0 RTP/AVP 31\r\n"
    "m=audio 43300 RTP/AVP 0\r\nc=IN IP4 127.0.0.1\r\na=recvonly\r\n"
)
OFFER = (
    "v=0\r\no=pbx 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n"
    "m=audio 30000 RTP/AVP 8 18 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n"
    "m=video 0 RTP/AVP 31\r\n"
    "m=audio 30002 RTP/AVP 0 96\r\na=rtpmap:96 opus/48000/2\r\na=sendonly\r\n"
)


def test_local_media_reads_pjsips_ports_and_rtcp():
    assert local_media(PJSIP_ANSWER) == (LocalMedia(0, 43291, 43292), LocalMedia(2, 43300, 43301))


def test_advertise_moves_every_stream_and_address_to_the_relay():
    out = advertise(PJSIP_ANSWER, "192.0.2.10", {0: (20000, 20001), 2: (31000, 31001)})
    sdp = parse_sdp(out)
    assert [(s.index, s.port, s.connection) for s in sdp.audio] == [
        (0, 20000, "192.0.2.10"),
        (2, 31000, "192.0.2.10"),
    ]
    assert "a=rtcp:20001 IN IP4 192.0.2.10\r\n" in out and "127.0.0.1 " not in out.split("s=")[1]
    assert "m=video 0 RTP/AVP 31\r\n" in out and out.endswith("\r\n")
    assert advertise(out, "192.0.2.10", {0: (20000, 20001), 2: (31000, 31001)}) == out


def test_accepted_payload_types_are_the_offers_codecs_the_answer_knows():
    assert accepted_payload_types(PJSIP_ANSWER, OFFER, 0) == {8, 101}
    assert accepted_payload_types(PJSIP_ANSWER, OFFER, 2) == {0}
    assert accepted_payload_types(PJSIP_ANSWER, OFFER, 1) == frozenset()  # video
    assert accepted_payload_types(PJSIP_ANSWER, PJSIP_ANSWER, 0) == {0, 8, 9, 120}  # our offer


def test_the_offered_source_is_the_offers_address_and_port():
    assert offered_source(OFFER, 0) == ("198.51.100.7", 30000)
    assert offered_source(OFFER, 2) == ("198.51.100.7", 30002)
    assert offered_source(OFFER, 1) is None and offered_source("", 0) is None
    assert offered_source(OFFER.replace("c=IN IP4 198.51.100.7", "c=IN IP4 0.0.0.0"), 0) is None
