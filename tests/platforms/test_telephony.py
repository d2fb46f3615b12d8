"""RingCentral telephony session notifications -> agent calls (pure)."""

from __future__ import annotations

import pytest

from platforms.telephony import (
    MalformedNotification,
    SessionTracker,
    parse_notification,
    parse_session,
)

AGENT = "400144455008"


def notification(code: str, sequence: int, pubnub: bool = False) -> dict:
    body = {
        "sequence": sequence,
        "sessionId": "402936341008",
        "telephonySessionId": "Y3MxNzE4NDE5MDM0MzQwMTgzODRAMTAuNjIuMjUuMTEx",
        "parties": [
            {
                "extensionId": AGENT,
                "id": "cs171841903434018384-2",
                "direction": "Inbound",
                "status": {"code": code},
            }
        ],
    }
    event = {
        "uuid": "1",
        "event": f"/restapi/v1.0/account/400144452008/extension/{AGENT}/telephony/sessions",
        "subscriptionId": "s",
        "ownerId": AGENT,
        "body": body,
    }
    return {"uuid": "1", "pn_apns": event} if pubnub else event


def test_agent_party_states_become_calls_in_order():
    t = SessionTracker({AGENT}, legs=2)
    sid = "Y3MxNzE4NDE5MDM0MzQwMTgzODRAMTAuNjIuMjUuMTEx"
    states = [
        t.push(parse_notification(notification(code, seq)))
        for code, seq in (("Proceeding", 5), ("Answered", 6))
    ]
    assert [(c.call_id, c.agent, c.state, c.legs) for c in states] == [
        (sid, AGENT, "ringing", 2),
        (sid, AGENT, "answered", 2),
    ]
    assert t.push(parse_notification(notification("Proceeding", 4))) is None  # out of order
    assert t.stale == 1
    assert t.push(parse_notification(notification("Disconnected", 9, pubnub=True))).state == "ended"
    assert (
        SessionTracker({"other"}, 1).push(parse_notification(notification("Answered", 1))) is None
    )


def test_other_events_and_malformed_ones():
    assert parse_notification({"event": "/restapi/v1.0/account/~/extension/~/presence"}) is None
    for bad in (
        [],
        {"event": "/restapi/v1.0/account/~/telephony/sessions"},
        {
            "event": "/restapi/v1.0/account/~/telephony/sessions",
            "body": {"telephonySessionId": "s", "parties": [{"id": "p"}]},
        },
    ):
        with pytest.raises(MalformedNotification):
            parse_notification(bad)
    sid, parties = parse_session(
        {
            "id": "s-1",
            "parties": [
                {
                    "id": "p-1",
                    "owner": {"extensionId": "400415042004"},
                    "status": {"code": "Answered"},
                },
                {"id": "p-2", "status": {"code": "Answered"}},
            ],
        }
    )
    assert sid == "s-1" and [p.extension_id for p in parties] == ["400415042004", ""]
