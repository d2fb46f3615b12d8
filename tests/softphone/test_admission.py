import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softphone.admission import PartyRoles, admit, source_of
from softphone.config import AdmissionConfig, ConfigError

TWO_PARTY_SDP = (
    "v=0\r\no=rc 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
    "m=audio 20000 RTP/AVP 0 8\r\ni=party-id=p-agent\r\na=sendonly\r\n"
    "m=audio 20002 RTP/AVP 0 8\r\ni=party-id=p-cust\r\na=sendonly\r\n"
)


def invite(headers: dict[str, str], sdp: str = "") -> str:
    head = "INVITE sip:listenin@127.0.0.1 SIP/2.0\r\n"
    base = {"Call-ID": "abc@192.0.2.10", "From": "<sip:1001@pbx>;tag=1"}
    if sdp:
        base["Content-Type"] = "application/sdp"
    lines = "".join(f"{k}: {v}\r\n" for k, v in {**base, **headers}.items())
    return head + lines + "\r\n" + sdp


RC_SESSION = {"p-rc-api-monitoring-ids": "session-id=s-1"}


def test_ringcentral_two_streams_labelled_by_party_roles():
    roles = PartyRoles()
    roles.set("s-1", "p-agent", "agent")
    got = admit(invite(RC_SESSION, TWO_PARTY_SDP), "127.0.0.1:5060", 0, AdmissionConfig(), roles)
    assert got.accepted and got.identity.session_id == "s-1"
    assert [(s.media_index, s.party_id, s.label) for s in got.streams] == [
        (0, "p-agent", "agent"),
        (1, "p-cust", "p-cust"),
    ]


def test_per_party_invite_uses_header_party_and_role():
    hdr = {"X-Session-Id": "call-9", "X-Party-Id": "7", "X-Party-Role": "customer"}
    sdp = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n"
    got = admit(invite(hdr, sdp), "127.0.0.1:5060", 3, AdmissionConfig())
    assert got.accepted
    assert [(s.media_index, s.party_id, s.label) for s in got.streams] == [(0, "7", "customer")]


ONE_STREAM = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n"


def test_fallback_identity_labels_by_from_user():
    got = admit(invite({}, ONE_STREAM), "127.0.0.1:5060", 0, AdmissionConfig())
    assert got.identity.source == "fallback" and got.streams[0].label == "1001"


@pytest.mark.parametrize(
    "source,calls,config,status,reason",
    [
        ("10.1.2.3:5060", 0, AdmissionConfig(), 403, "untrusted source 10.1.2.3:5060"),
        ("127.0.0.1:5060", 0, AdmissionConfig(require_identification=True), 403,
         "does not identify"),
        ("127.0.0.1:5060", 4, AdmissionConfig(), 486, "4-call limit"),
        ("127.0.0.1:5060", 2, AdmissionConfig(max_calls=2), 486, "2-call limit"),
    ],
)  # fmt: skip
def test_refusals(source, calls, config, status, reason):
    got = admit(invite({}), source, calls, config)
    assert got.status == status and reason in got.reason and not got.streams


def test_malformed_headers_and_sdp_get_400():
    bad_hdr = admit(
        invite({"p-rc-api-monitoring-ids": "party-id"}), "127.0.0.1:1", 0, AdmissionConfig()
    )
    assert bad_hdr.status == 400 and "malformed parameter" in bad_hdr.reason
    bad_sdp = admit(
        invite(RC_SESSION, "v=0\r\nm=audio x RTP/AVP 0\r\n"), "127.0.0.1:1", 0, AdmissionConfig()
    )
    assert bad_sdp.status == 400 and bad_sdp.reason.startswith("bad SDP: line 2")
    garbage = admit(b"\x00\x01", "127.0.0.1:1", 0, AdmissionConfig())
    assert garbage.status == 400


def test_party_roles_evict_oldest():
    roles = PartyRoles(capacity=2)
    roles.set("s", "a", "agent")
    roles.set("s", "b", "customer")
    roles.set("s", "c", "agent")
    assert roles.get("s", "a") is None and roles.get("s", "c") == "agent"
    assert roles.get("s", None) is None


def test_call_limit_is_the_wheels():
    with pytest.raises(ConfigError, match="compiled into the pjsua2 wheel"):
        AdmissionConfig(max_calls=5)


@pytest.mark.parametrize("entry", ["not-an-address", "10.0.0.0/33", "1.2.3.4:x", "[::1"])
def test_a_trusted_entry_that_can_never_match_is_refused(entry):
    with pytest.raises(ConfigError, match="trusted source"):
        AdmissionConfig(trusted=(entry,))


def test_trusted_entries_in_every_form_are_accepted():
    trusted = ("127.0.0.1", "127.0.0.1:9", "10.0.0.0/8", "::1", "[::1]:5060", "fd00::/8")
    assert AdmissionConfig(trusted=trusted).trusted == trusted


def raw_invite(body: str, *headers: str, length: int | None = None) -> str:
    head = [
        "INVITE sip:listenin@127.0.0.1 SIP/2.0",
        "Call-ID: x@y",
        "From: <sip:1@pbx>;tag=1",
        *headers,
        f"Content-Length: {len(body.encode()) if length is None else length}",
    ]
    return "\r\n".join(head) + "\r\n\r\n" + body


SDP_HEAD = "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"


def audio(n: int, party: str | None = None, kind: str = "audio") -> str:
    title = f"i=party-id={party}\r\n" if party else ""
    return f"m={kind} {4000 + 2 * n} RTP/AVP 0\r\n{title}"


SDP_CT = "Content-Type: application/sdp"


@pytest.mark.parametrize(
    "text,status,reason",
    [
        (raw_invite("", ), 488, "no SDP offer"),
        (raw_invite(SDP_HEAD + audio(0), "Content-Type: text/plain"), 415, "text/plain"),
        (raw_invite(SDP_HEAD + audio(0)), 415, "untyped"),
        (raw_invite(SDP_HEAD + audio(0), SDP_CT, length=10), 400, "Content-Length 10"),
        (raw_invite(SDP_HEAD + audio(0), SDP_CT, length=900), 400, "Content-Length 900"),
        (raw_invite(SDP_HEAD + audio(0), "Content-Length: ten", SDP_CT), 400, "not a number"),
        (raw_invite(SDP_HEAD + audio(0), SDP_CT, "X-Pad: " + "a" * 4000), 513, "4000-byte"),
        (raw_invite(SDP_HEAD + "".join(audio(n) for n in range(5)), SDP_CT), 488, "5 audio"),
        (raw_invite(SDP_HEAD + "".join(audio(n) for n in range(9)), SDP_CT), 488, "9 media"),
        (raw_invite(SDP_HEAD + audio(0, kind="video"), SDP_CT), 488, "no audio"),
        (raw_invite(SDP_HEAD + audio(0, "p") + audio(1, "p"), SDP_CT), 400, "same party"),
    ],
)  # fmt: skip
def test_hostile_invites_are_refused_with_the_right_status(text, status, reason):
    got = admit(text, "127.0.0.1:5060", 0, AdmissionConfig())
    assert (got.status, got.streams) == (status, ()) and reason in got.reason, got.reason


def test_audio_after_video_keeps_its_media_index():
    text = raw_invite(SDP_HEAD + audio(0, kind="video") + audio(1, "p1"), SDP_CT)
    got = admit(text, "127.0.0.1:5060", 0, AdmissionConfig())
    assert got.accepted and [s.media_index for s in got.streams] == [1]


def test_the_stream_cap_is_configurable():
    text = raw_invite(SDP_HEAD + "".join(audio(n) for n in range(5)), SDP_CT)
    assert admit(text, "127.0.0.1:1", 0, AdmissionConfig(max_streams=6)).accepted
    with pytest.raises(ConfigError):
        AdmissionConfig(max_streams=20)
    with pytest.raises(ConfigError):
        AdmissionConfig(ack_timeout_s=0)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=600), st.sampled_from(["127.0.0.1:5060", "10.9.8.7:5060"]))
def test_any_text_gets_a_status_never_an_exception(text, source):
    got = admit(text, source, 0, AdmissionConfig())
    assert got.status in (200, 400, 403, 413, 415, 486, 488, 513)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([
    "v=0", "m=audio 4000 RTP/AVP 0", "m=video 0 RTP/AVP 96", "i=party-id=a", "i=party-id=b",
    "a=rtpmap:0 PCMU/8000", "a=sendonly", "c=IN IP4 1.2.3.4", "m=audio x RTP/AVP", "a=crypto:1",
    "a=rtpmap:96", "m=audio 70000 RTP/AVP 0", "b=AS:64", "\x1b[31m", "",
]), max_size=30))  # fmt: skip
def test_any_sdp_gets_a_status_and_accepted_ones_are_consistent(lines):
    body = "\r\n".join(lines) + "\r\n"
    got = admit(raw_invite(body, SDP_CT), "127.0.0.1:5060", 0, AdmissionConfig())
    assert got.status in (200, 400, 488)
    if got.accepted:
        assert 1 <= len(got.streams) <= 4
        indexes = [s.media_index for s in got.streams]
        assert indexes == sorted(set(indexes))


FRONT = "127.0.0.1:40002"
FROM_FRONT = (
    "INVITE sip:listenin@127.0.0.1 SIP/2.0\r\nX-Listenin-Source: 10.6.6.6:5060\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:40002\r\nx-listenin-source : 203.0.113.9:5061\r\n\r\n"
    "X-Listenin-Source: 10.0.0.1:1\r\n"
)


def test_the_front_names_the_source_and_only_the_front_is_believed():
    # the front's header is the last one (it removes the peer's and appends its own);
    # one in the body is no header
    assert source_of(FROM_FRONT, FRONT, FRONT) == "203.0.113.9:5061"
    assert source_of(FROM_FRONT, "127.0.0.1:5999", FRONT) == "127.0.0.1:5999"  # not the front
    assert source_of(FROM_FRONT, FRONT, None) == FRONT  # no front configured
    assert source_of("INVITE sip:x SIP/2.0\r\n\r\n", FRONT, FRONT) == ""  # trusted by nobody
    assert admit(FROM_FRONT, "", 0, AdmissionConfig()).status == 403


@pytest.mark.parametrize("entry", ["127.0.0.1", "10.0.0.0/8", "127.0.0.1:0", "pbx:5060"])
def test_a_front_source_is_an_ip_and_port(entry):
    with pytest.raises(ConfigError, match="front source"):
        AdmissionConfig(front_source=entry)
