import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from records.labels import is_clean
from softphone.identify import (
    HeaderNames,
    IdentificationError,
    from_user,
    identify,
    parse_params,
)


def test_ringcentral_monitoring_ids():
    headers = {
        "Call-ID": "7b2c9e@192.0.2.10",
        "p-rc-api-ids": "party-id=p-a0d7e1f2b3c4d5-3;session-id=s-a0d7e1f2b3c4d5",
        "P-RC-API-Monitoring-IDs": "party-id=p-a0d7e1f2b3c4d5-2;session-id=s-a0d7e1f2b3c4d5",
    }
    who = identify(headers)
    assert (who.session_id, who.party_id, who.source) == (
        "s-a0d7e1f2b3c4d5", "p-a0d7e1f2b3c4d5-2", "ringcentral",
    )  # fmt: skip
    assert who.label == "p-a0d7e1f2b3c4d5-2"


def test_session_level_supervise_has_no_party():
    who = identify({"p-rc-api-monitoring-ids": "session-id=s-1"})
    assert who.party_id is None and who.label == "mixed"


def test_generic_headers_with_role():
    headers = {"x-session-id": "call-42", "X-Party-Id": "7", "X-Party-Role": "Agent"}
    who = identify(headers)
    assert (who.session_id, who.party_id, who.role, who.label) == ("call-42", "7", "agent", "agent")
    custom = identify({"X-Genesys-Call": "abc"}, HeaderNames(session="X-Genesys-Call"))
    assert custom.session_id == "abc" and custom.source == "headers"


def test_fallback_to_call_id_and_from_user():
    headers = {
        "Call-ID": "a84b4c76e66710@pc33.example.com",
        "From": '"Bob" <sip:1002@pbx.local>;tag=1',
    }
    who = identify(headers)
    assert (who.session_id, who.party_id, who.source) == (
        "a84b4c76e66710@pc33.example.com",
        "1002",
        "fallback",
    )
    with pytest.raises(IdentificationError, match="does not identify"):
        identify(headers, require=True)


@pytest.mark.parametrize(
    "headers,message",
    [
        ({"p-rc-api-monitoring-ids": "party-id=p-1"}, "no session-id"),
        ({"p-rc-api-monitoring-ids": "party-id"}, "malformed parameter"),
        ({"p-rc-api-monitoring-ids": "session-id=s 1;x"}, "malformed parameter"),
        ({"p-rc-api-monitoring-ids": "session-id=" + "a" * 2000}, "too long"),
        ({"X-Session-Id": "bad id with spaces"}, "malformed X-Session-Id"),
        ({"X-Session-Id": "ok", "X-Party-Role": "<script>"}, "malformed X-Party-Role"),
        ({}, "no Call-ID"),
        ({"Call-ID": "has space"}, "malformed Call-ID"),
    ],
)
def test_malformed_headers_are_rejected(headers, message):
    with pytest.raises(IdentificationError, match=message):
        identify(headers)


def test_parse_params_tolerates_spacing_and_commas():
    assert parse_params(' party-id = p-1 , session-id="s-2" ;') == {
        "party-id": "p-1",
        "session-id": "s-2",
    }


def test_the_from_user_is_cleaned_of_control_characters_and_cut_short():
    call = {"Call-ID": "c-1@host"}
    who = identify({**call, "From": "<sip:\x1b]0:pwned\x07bob\r\n\x9b31m@pbx>;tag=1"})
    assert who.party_id == "?]0:pwned?bob???31m" and who.label == who.party_id
    assert identify({**call, "From": f"<sip:{'u' * 500}@pbx>"}).party_id == "u" * 128
    assert from_user("sip:\u202eevil\u2028line@x") == "?evil?line"


def test_control_characters_in_ids_are_refused_not_passed_on():
    with pytest.raises(IdentificationError, match=r"malformed X-Party-Id 'p\\x1b\[31m'"):
        identify({"X-Session-Id": "s", "X-Party-Id": "p\x1b[31m"})
    with pytest.raises(IdentificationError, match="malformed Call-ID"):
        identify({"Call-ID": "a\x1bb"})


@settings(max_examples=300, deadline=None)
@given(user=st.text(min_size=1, max_size=300), call_id=st.text(max_size=40))
def test_whatever_the_headers_say_the_identity_is_clean(user, call_id):
    headers = {"Call-ID": call_id or "c", "From": f"<sip:{user}@pbx>", "X-Party-Role": user}
    for h in (headers, {**headers, "X-Session-Id": call_id, "X-Party-Id": user}):
        try:
            who = identify(h)
        except IdentificationError:
            continue
        for text in (who.session_id, who.party_id or "", who.role or "", who.label):
            assert is_clean(text) and len(text) <= 256, text
