import pytest

from softphone.sdp import SdpError, parse_sdp

# A RingCentral-style supervise offer: one INVITE, two audio streams, one per party.
TWO_PARTY = """v=0\r
o=- 1700000000 1700000000 IN IP4 192.0.2.10\r
s=SmcSip\r
c=IN IP4 192.0.2.10\r
t=0 0\r
m=audio 20000 RTP/SAVP 0 8 9 101\r
i=party-id=p-a0d7e1f2b3c4d5-1\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:101 telephone-event/8000\r
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r
a=sendonly\r
m=audio 20002 RTP/SAVP 0 8 101\r
i=party-id=p-a0d7e1f2b3c4d5-2\r
c=IN IP4 192.0.2.11\r
a=rtpmap:101 telephone-event/8000\r
a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj\r
a=sendonly\r
"""

ASTERISK = b"""v=0
o=root 1 1 IN IP4 127.0.0.1
s=Asterisk
c=IN IP4 127.0.0.1
t=0 0
m=audio 10000 RTP/AVP 9 0 96
a=rtpmap:96 opus/48000/2
a=sendrecv
m=video 0 RTP/AVP 31
"""


def test_two_party_offer():
    sdp = parse_sdp(TWO_PARTY)
    assert [s.party_id for s in sdp.audio] == ["p-a0d7e1f2b3c4d5-1", "p-a0d7e1f2b3c4d5-2"]
    a, b = sdp.audio
    assert (a.port, a.direction, a.secure) == (20000, "sendonly", True)
    assert [c.name for c in a.codecs] == ["PCMU", "PCMA", "G722", "TELEPHONE-EVENT"]
    assert a.crypto == ("AES_CM_128_HMAC_SHA1_80",) and b.crypto == ("AES_CM_128_HMAC_SHA1_32",)
    assert a.connection == "192.0.2.10" and b.connection == "192.0.2.11"
    assert a.codecs[2].sample_rate == 16000 and a.codecs[2].clock_rate == 8000


def test_plain_offer_with_video_and_dynamic_codec():
    sdp = parse_sdp(ASTERISK)
    assert len(sdp.audio) == 1
    s = sdp.audio[0]
    assert s.party_id is None and not s.secure
    assert [(c.payload_type, c.name, c.clock_rate) for c in s.codecs] == [
        (9, "G722", 8000), (0, "PCMU", 8000), (96, "OPUS", 48000),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "body,message",
    [
        ("", "must start with a v= line"),
        ("v=0\nm=audio x RTP/AVP 0\n", "bad port"),
        ("v=0\nm=audio 5000 RTP/AVP 300\n", "out of range"),
        ("v=0\nm=audio 5000\n", "bad m= line"),
        ("v=0\ngarbage\n", "not a 'x=value' line"),
        ("v=0\nm=audio 5000 RTP/AVP 0\na=rtpmap:zero PCMU/8000\n", "bad rtpmap"),
        ("v=0\nc=IN IP4\n", "bad c= line"),
        ("v=0\nm=audio 5000 RTP/SAVP 0\na=crypto:1\n", "bad crypto"),
        (b"v=0\n\xff\xfe", "not UTF-8"),
        (b"v=0\n" + b"a=x\n" * 5000, "over the"),
    ],
)
def test_malformed_sdp_is_rejected_with_the_reason(body, message):
    with pytest.raises(SdpError, match=message):
        parse_sdp(body)
