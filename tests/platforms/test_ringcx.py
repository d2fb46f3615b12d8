"""The RingCX adapter against the fake RingCX (real HTTP on loopback, no SIP)."""

from __future__ import annotations

import pytest

from pbxsim.platforms.placer import CallPlacer
from pbxsim.platforms.ringcx import FakeRingCX
from platforms import platform_config, watcher_for
from platforms.errors import PermissionDenied
from platforms.ringcx import RingCX
from records.device import LegAnswered, LegEnded, StreamLabel

ENV = {"RC_CLIENT_SECRET": "app-secret", "RC_JWT": "jwt-credential"}
DEVICE_NUMBER = "+15554150123"


@pytest.fixture
def fake():
    f = FakeRingCX(placer=CallPlacer(dial=False)).start()
    f.phones["15554150123"] = "sip:listenin@127.0.0.1:5999"
    yield f
    f.stop()


def adapter(fake, fake_clock, **table) -> RingCX:
    cfg = platform_config(
        "ringcx",
        {
            "client_id": "app-id",
            "account_id": "12440011",
            "destination": DEVICE_NUMBER,
            "base_url": fake.url + "/voice/api/v1/admin",
            "auth_server_url": fake.url,
            **table,
        },
    )
    return RingCX.from_config(cfg, ENV, clock=fake_clock.clock, sleep=fake_clock.sleep)


def watcher(rc, fake_clock):
    return watcher_for(rc, rc.config, clock=fake_clock.clock, sleep=fake_clock.sleep)


def leg_answered(sip_id: str) -> LegAnswered:
    return LegAnswered(
        "1-1", sip_id, (StreamLabel(0, "pbxsim", "pbxsim"),), "127.0.0.1:1", "fallback", 0.2
    )


def test_poll_then_monitor_agent_calls_and_pair_the_invite(fake, fake_clock):
    rc = adapter(fake, fake_clock)
    w = watcher(rc, fake_clock)
    rc.open()
    queued = fake.start_call(agent=None)
    uii = fake.start_call()
    w.step()
    (listing,) = fake.seen("GET", "/list$")
    assert listing.query == {"product": "ACCOUNT", "productId": "12440011"}
    assert listing.headers["authorization"].startswith("Bearer at-")
    (add,) = fake.seen("POST", "/addSessionToCall$")
    assert add.path.endswith(f"/accounts/12440011/activeCalls/{uii}/addSessionToCall")
    assert add.query == {"destination": DEVICE_NUMBER, "sessionType": "MONITOR"}
    ((target, (leg,)),) = fake.placer.placed
    assert target == "sip:listenin@127.0.0.1:5999" and leg.headers == ()
    assert [p.role for p in leg.parties] == ["mixed"]
    assert w.policy.status(uii) == "active" and w.policy.status(queued) == "waiting"
    w.device_event(leg_answered("abc@pbxsim"))  # the device answered a plain INVITE
    assert w.call_for("abc@pbxsim") == uii
    w.device_event(LegEnded("1-1", "abc@pbxsim", ("pbxsim",), "BYE"))
    fake.end_call(uii)
    fake_clock.advance(5)
    w.step()
    assert w.policy.status(uii) is None
    assert len(fake.seen("GET", "/list$")) == 2  # every poll_interval_s, not every step


def test_agent_filter_and_session_type(fake, fake_clock):
    rc = adapter(fake, fake_clock, agents=["Ada Lovelace"], session_type="COACHING")
    w = watcher(rc, fake_clock)
    rc.open()
    fake.start_call(agent=("Paco", "Vu"))
    ada = fake.start_call(agent=("Ada", "Lovelace"))
    w.step()
    (add,) = fake.seen("POST", "/addSessionToCall$")
    assert f"/{ada}/" in add.path and add.query["sessionType"] == "COACHING"


def test_429_is_retried_with_exponential_backoff(fake, fake_clock):
    rc = adapter(fake, fake_clock)
    rc.open()
    fake.start_call()
    fake.fail("GET", "/list$", 429, times=3)
    calls = rc.poll().calls
    assert fake_clock.sleeps == [1.0, 2.0, 4.0] and len(calls) == 1


def test_a_stale_uii_means_the_call_ended_and_is_not_retried(fake, fake_clock, debug_logs):
    rc = adapter(fake, fake_clock)
    w = watcher(rc, fake_clock)
    rc.open()
    uii = fake.start_call()
    fake.fail("POST", "/addSessionToCall$", 404)
    w.step()
    assert len(fake.seen("POST", "/addSessionToCall$")) == 1 and fake_clock.sleeps == []
    assert w.policy.status(uii) is None
    assert f"call {uii} ended before it could be supervised" in debug_logs.text
    assert not fake.placer.placed


def test_requests_stay_under_the_per_minute_limit(fake, fake_clock, debug_logs):
    rc = adapter(fake, fake_clock, max_requests_per_min=2)
    rc.open()
    rc.poll()
    fake_clock.advance(5)
    rc.poll()
    fake_clock.advance(5)
    rc.poll()
    assert fake_clock.sleeps == [50.0]
    assert "2 requests in the last 60 s; waiting 50.0 s" in debug_logs.text


def test_platform_errors_are_specific_and_never_stop_the_watcher(fake, fake_clock, debug_logs):
    rc = adapter(fake, fake_clock)
    w = watcher(rc, fake_clock)
    rc.open()
    fake.deny = True
    with pytest.raises(
        PermissionDenied,
        match="403 access.denied.exception: You do not have permission to access this resource",
    ):
        rc.list_calls()
    fake.deny = False
    fake.malformed("GET", "/list$")
    w.step()
    assert "listing calls failed" in debug_logs.text and "not JSON" in debug_logs.text
    assert w.poll_failures == 1 and w.pause_s() == 2.0
    uii = fake.start_call()
    fake.fail("POST", "/addSessionToCall$", 500)  # not idempotent: not retried at once
    fake_clock.advance(5)
    w.step()
    assert w.poll_failures == 0 and w.policy.status(uii) == "waiting"
    fake_clock.advance(5)
    w.step()
    assert w.policy.status(uii) == "active"
    rc.stop(w.policy.active()[0])
    (hangup,) = fake.seen("POST", "/hangupSession$")
    assert hangup.query == {"phone": DEVICE_NUMBER}


def test_the_call_limit_is_the_hosts_unless_the_table_sets_one(fake, fake_clock):
    rc = adapter(fake, fake_clock)
    host = watcher_for(rc, rc.config, 20, clock=fake_clock.clock, sleep=fake_clock.sleep)
    assert host.policy.config.max_device_calls == 20  # max_device_calls = 0: the pool's size
    rc = adapter(fake, fake_clock, max_device_calls=6)
    fixed = watcher_for(rc, rc.config, 20, clock=fake_clock.clock, sleep=fake_clock.sleep)
    assert fixed.policy.config.max_device_calls == 6
