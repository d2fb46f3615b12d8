from pathlib import Path

import pytest

from pbxsim.plan import legs, load_session, title_streams
from softphone.admission import admit
from softphone.config import AdmissionConfig

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "call1.json"


def test_two_stream_form_is_one_leg_with_rc_headers():
    session = load_session(FIXTURE, "s-9")
    (leg,) = legs(session, "two-streams")
    assert [p.role for p in leg.parties] == ["agent", "customer"]
    assert dict(leg.headers)["p-rc-api-monitoring-ids"] == "session-id=s-9"


def test_per_party_and_header_forms_are_one_leg_per_party():
    session = load_session(FIXTURE, "s-9")
    rc = legs(session, "per-party")
    assert [dict(leg.headers)["p-rc-api-monitoring-ids"] for leg in rc] == [
        "party-id=s-9-1;session-id=s-9",
        "party-id=s-9-2;session-id=s-9",
    ]
    gen = legs(session, "headers")
    assert [dict(leg.headers)["X-Party-Role"] for leg in gen] == ["agent", "customer"]
    with pytest.raises(ValueError, match="form must be one of"):
        legs(session, "carrier-pigeon")


def test_titled_offer_is_what_the_device_admits():
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=pjmedia\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP 0\r\na=sendonly\r\nm=audio 4002 RTP/AVP 0\r\na=sendonly\r\n"
    )
    titled = title_streams(sdp, ("s-9-1", "s-9-2"))
    session = load_session(FIXTURE, "s-9")
    (leg,) = legs(session, "two-streams")
    invite = (
        "INVITE sip:listenin@127.0.0.1 SIP/2.0\r\nCall-ID: x@y\r\n"
        "Content-Type: application/sdp\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in leg.headers)
        + "\r\n"
        + titled
    )
    got = admit(invite, "127.0.0.1:5080", 0, AdmissionConfig())
    assert [(s.media_index, s.party_id) for s in got.streams] == [(0, "s-9-1"), (1, "s-9-2")]
