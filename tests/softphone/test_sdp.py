import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from records.labels import MAX_LABEL_CHARS, is_clean
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


def test_control_characters_from_the_network_are_replaced_and_labels_cut_short():
    body = (
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\x1b[2J\r\nm=audio 5000 RTP/AVP 0 96\r\n"
        "i=party-id=p-1\x1b[31mred\x07;note=\x9b1m\u202eevil\r\n"
        "a=rtpmap:96 op\x00us/48000\r\n"
        f"m=audio 5002 RTP/AVP 0\r\ni=party-id={'x' * 500}\r\n"
    )
    sdp = parse_sdp(body)
    a, b = sdp.audio
    assert a.party_id == "p-1?[31mred?" and a.title == "party-id=p-1?[31mred?;note=?1m?evil"
    assert sdp.origin == "- 1 1 IN IP4 10.0.0.1?[2J" and a.codecs[1].name == "OP?US"
    assert b.party_id == "x" * 128 and b.title is not None and len(b.title) == 256


def test_tabs_separate_fields_like_spaces():
    sdp = parse_sdp("v=0\nm=audio\t5000 RTP/AVP\t0\na=rtpmap:0 PCMU/8000\t\n")
    assert sdp.audio[0].port == 5000 and sdp.audio[0].codecs[0].name == "PCMU"


def test_a_long_text_body_is_refused_like_a_long_byte_body():
    with pytest.raises(SdpError, match="over the"):
        parse_sdp("v=0\n" + "a=x\n" * 5000)


@settings(max_examples=300, deadline=None)
@given(title=st.text(max_size=400), attribute=st.text(max_size=60))
def test_whatever_the_offer_says_every_string_returned_is_clean(title, attribute):
    body = f"v=0\nc=IN IP4 {attribute}\nm=audio 5000 RTP/AVP 0\ni=party-id={title}\na={attribute}\n"
    try:
        sdp = parse_sdp(body)
    except SdpError:
        return
    for stream in sdp.audio:
        texts = [stream.title or "", stream.party_id or "", stream.connection or "",
                 stream.protocol, *stream.crypto, *(c.name for c in stream.codecs)]  # fmt: skip
        assert all(is_clean(t) for t in texts), texts
        assert len(stream.party_id or "") <= MAX_LABEL_CHARS
        assert len(stream.title or "") <= 256
    assert is_clean(sdp.origin)
