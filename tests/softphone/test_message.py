import pytest

from softphone.message import MessageError, parse_message

INVITE = (
    "INVITE sip:supervisor@127.0.0.1:5070 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds\r\n"
    "f: <sip:rc@192.0.2.10>;tag=1928301774\r\n"
    "To: <sip:supervisor@127.0.0.1>\r\n"
    "i: a84b4c76e66710@pc33\r\n"
    "CSeq: 314159 INVITE\r\n"
    "P-RC-API-Monitoring-IDs: party-id=p-2;\r\n"
    " session-id=s-1\r\n"
    "Content-Type: application/sdp\r\n"
    "\r\n"
    "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\n"
)


def test_headers_body_compact_and_folded_forms():
    msg = parse_message(INVITE.encode())
    assert msg.method == "INVITE"
    assert msg.get("Call-ID") == "a84b4c76e66710@pc33"
    assert msg.get("FROM") == "<sip:rc@192.0.2.10>;tag=1928301774"
    assert msg.get("p-rc-api-monitoring-ids") == "party-id=p-2; session-id=s-1"
    assert msg.body.startswith("v=0")
    assert msg.as_dict()["cseq"] == "314159 INVITE"
    assert msg.get("X-Missing") is None


def test_bare_newlines_are_accepted():
    msg = parse_message(INVITE.replace("\r\n", "\n"))
    assert msg.get("call-id") == "a84b4c76e66710@pc33" and msg.body.startswith("v=0")


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "bad start line"),
        ("INVITE\r\n\r\n", "bad start line"),
        ("INVITE sip:a SIP/2.0\r\n no header yet\r\n\r\n", "continuation"),
        ("INVITE sip:a SIP/2.0\r\nNoColonHere\r\n\r\n", "not a 'Name: value'"),
        ("INVITE sip:a SIP/2.0\r\nBad Name: x\r\n\r\n", "not a 'Name: value'"),
        ("INVITE sip:a SIP/2.0\r\n" + "X-A: 1\r\n" * 201 + "\r\n", "more than 200"),
        (b"INVITE sip:a SIP/2.0\r\n" + b"X" * 70000, "over 65536"),
    ],
)
def test_malformed_messages_are_rejected(text, message):
    with pytest.raises(MessageError, match=message):
        parse_message(text)
