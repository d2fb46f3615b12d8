"""The Yeastar adapter against the fake Yeastar P-Series (real HTTP on loopback, no SIP)."""

from __future__ import annotations

import json

import pytest

from pbxsim.platforms.placer import CallPlacer
from pbxsim.platforms.yeastar import FakeYeastar
from platforms import platform_config, watcher_for
from platforms.errors import AuthError, BadRequest
from platforms.yeastar import MalformedEvent, Yeastar, call_of, parse_event

ENV = {"YEASTAR_CLIENT_SECRET": "ys-secret"}


@pytest.fixture
def fake():
    f = FakeYeastar(placer=CallPlacer(dial=False)).start()
    f.extensions.update({"2008": "sip:listenin@127.0.0.1:5999", "2000": None, "2001": None})
    f.monitor_allowed.update({"2000", "2001"})
    yield f
    f.stop()


def adapter(fake, fake_clock, env=ENV, **table) -> Yeastar:
    cfg = platform_config(
        "yeastar",
        {
            "base_url": fake.url,
            "client_id": "ys-client-id",
            "monitor": "2008",
            "webhook_bind": "127.0.0.1:0",
            **table,
        },
    )
    ys = Yeastar.from_config(cfg, env, clock=fake_clock.clock, sleep=fake_clock.sleep)
    return ys


def opened(fake, fake_clock, **table):
    ys = adapter(fake, fake_clock, **table)
    w = watcher_for(ys, ys.config, clock=fake_clock.clock, sleep=fake_clock.sleep)
    ys.open()
    fake.webhook_url = ys.listener.url  # what the admin sets on the PBX's API page
    return ys, w


def test_answered_call_is_listened_to_with_its_channel_id(fake, fake_clock):
    ys, w = opened(fake, fake_clock, extensions=["2000"])
    other = fake.start_call("2001")
    call_id = fake.start_call("2000")
    assert fake.wait_delivered(4)
    w.step()
    (listen,) = fake.seen("POST", "/openapi/v1.0/call/listen$")
    assert listen.json() == {
        "monitor": "2008",
        "channel_id": fake.calls[call_id]["channel"],
        "type": "listen",
    }
    assert listen.headers["user-agent"] == "OpenAPI" and "access_token" in listen.query
    assert w.policy.status(call_id) == "active" and w.policy.status(other) is None
    ((target, (leg,)),) = fake.placer.placed
    assert target == "sip:listenin@127.0.0.1:5999" and leg.headers == ()
    fake.hangup(call_id)
    assert fake.wait_delivered(5)
    w.step()
    assert w.policy.status(call_id) is None


def test_token_refresh_before_expiry_and_after_an_invalid_token(fake, fake_clock):
    ys, _ = opened(fake, fake_clock, type="whisper")
    assert fake.grants == ["get_token"]
    fake_clock.advance(1800 - 60)  # inside the 120 s margin
    fake.start_call("2000")
    assert fake.wait_delivered(2)
    call = ys.poll().calls[-1]
    ys.supervise(call)
    assert fake.grants == ["get_token", "refresh_token"]
    fake.revoke_all()  # errcode "INVALID OR EXPIRED TOKEN": a fresh token, one retry
    ys.supervise(call)
    assert fake.grants == ["get_token", "refresh_token", "refresh_token"]
    assert fake.seen("POST", "/call/listen$")[-1].json()["type"] == "whisper"


def test_errcode_failures_are_clear_and_bad_credentials_fail_open(fake, fake_clock):
    with pytest.raises(AuthError, match="get_token: errcode 20003: USERNAME OR PASSWORD ERROR"):
        adapter(fake, fake_clock, env={"YEASTAR_CLIENT_SECRET": "wrong-secret"}).open()
    ys, w = opened(fake, fake_clock)
    call_id = fake.start_call("2000")
    assert fake.wait_delivered(2)
    fake.calls[call_id]["ext"] = "2002"  # the extension may not be monitored: FAILURE
    with pytest.raises(BadRequest, match="call/listen: errcode 20024: FAILURE"):
        ys.supervise(ys.poll().calls[-1])


def test_event_parsing(fake, fake_clock, debug_logs):
    msg = {
        "call_id": "1650094666.549",
        "members": [
            {
                "extension": {
                    "number": "2000",
                    "channel_id": "PJSIP/2000-00000114",
                    "member_status": "ANSWER",
                    "call_path": "",
                }
            },
            {
                "inbound": {
                    "from": "5503301",
                    "to": "5503300",
                    "trunk_name": "t",
                    "channel_id": "PJSIP/t-1",
                    "member_status": "ANSWERED",
                }
            },
        ],
    }
    call_id, members = parse_event({"type": 30011, "sn": "x", "msg": json.dumps(msg)})
    call = call_of(call_id, members, ())
    assert (call.call_id, call.agent, call.state, call.target, call.hint) == (
        "1650094666.549",
        "2000",
        "answered",
        "PJSIP/2000-00000114",
        "5503301",
    )
    assert call_of(call_id, members, ("2001",)) is None
    assert parse_event({"type": 30012, "msg": "{}"}) is None
    with pytest.raises(MalformedEvent):
        parse_event({"type": 30011, "msg": "{broken"})
    ys, w = opened(fake, fake_clock)
    fake.notifier.post(ys.listener.url, {"type": 30011, "msg": {"members": []}})
    assert fake.wait_delivered(1)
    w.step()
    assert ys.malformed == 1 and "malformed event dropped" in debug_logs.text
    assert "ys-secret" not in debug_logs.text
    assert not any(token in debug_logs.text for token in fake.access)
