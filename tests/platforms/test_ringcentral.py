"""The RingCentral adapter against the fake RingCentral (real HTTP on loopback, no SIP)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from pbxsim.platforms.placer import CallPlacer
from pbxsim.platforms.ringcentral import FakeRingCentral
from platforms import platform_config
from platforms.devices import pick_device
from platforms.errors import AuthError, DeviceUnavailable, NotFound
from platforms.monitoring import Assignment
from platforms.policy import PolicyConfig, SupervisePolicy
from platforms.ringcentral import RingCentral
from platforms.watcher import Watcher
from softphone.admission import PartyRoles

ENV = {"RC_CLIENT_SECRET": "app-secret", "RC_JWT": "jwt-credential"}
AGENT, OTHER = "400144460001", "400144460002"
DEVICE = "60727004"


@pytest.fixture
def fake():
    f = FakeRingCentral(placer=CallPlacer(dial=False)).start()
    f.add_agent(AGENT, "101")
    f.add_agent(OTHER, "103")
    f.add_device(DEVICE, "sip:listenin@127.0.0.1:5999")
    f.add_group("Support", [f.supervisor], [AGENT, OTHER])
    yield f
    f.stop()


def adapter(fake, fake_clock, env=ENV, **table) -> RingCentral:
    cfg = platform_config(
        "ringcentral",
        {
            "client_id": "app-id",
            "server_url": fake.url,
            "device_id": DEVICE,
            "webhook_bind": "127.0.0.1:0",
            **table,
        },
    )
    return RingCentral.from_config(cfg, env, clock=fake_clock.clock, sleep=fake_clock.sleep)


def watch(rc, fake_clock, roles=None, max_calls=4) -> Watcher:
    policy = SupervisePolicy(PolicyConfig(max_device_calls=max_calls))
    return Watcher(rc, policy, clock=fake_clock.clock, sleep=fake_clock.sleep, roles=roles)


def test_jwt_sign_in_then_refresh_before_expiry_and_after_401(fake, fake_clock):
    rc = adapter(fake, fake_clock)
    rc.open()
    assert fake.tokens.grants == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    token = fake.seen("POST", "/restapi/oauth/token$")[0]
    assert token.form()["assertion"] == "jwt-credential"
    assert token.headers["authorization"].startswith("Basic ")
    fake_clock.advance(3600 - 100)  # inside the 120 s refresh margin
    rc.groups.list()
    assert fake.tokens.grants[-1] == "refresh_token"
    fake.tokens.revoke_all()  # a 401: re-authenticate once, then the request goes through
    assert [g.name for g in rc.groups.list()] == ["Support"]
    assert fake.tokens.grants == [
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "refresh_token",
        "refresh_token",
    ]


def test_a_rejected_jwt_is_a_clear_auth_error(fake, fake_clock, debug_logs):
    rc = adapter(fake, fake_clock, env={**ENV, "RC_JWT": "stale-jwt-value"})
    with pytest.raises(AuthError, match="signing in with the JWT failed.*400 invalid_grant"):
        rc.open()
    assert "stale-jwt-value" not in debug_logs.text


def test_monitoring_groups_crud(fake, fake_clock):
    rc = adapter(fake, fake_clock)
    groups = rc.groups
    g = groups.create("Night shift")
    groups.assign(
        g.id,
        added=[Assignment(fake.supervisor, ("Monitoring",)), Assignment(AGENT, ("Monitored",))],
    )
    bulk = fake.seen("POST", "/bulk-assign$")[0].json()
    assert bulk == {
        "addedExtensions": [
            {"id": fake.supervisor, "permissions": ["Monitoring"]},
            {"id": AGENT, "permissions": ["Monitored"]},
        ]
    }
    assert {m.extension_id: m.permissions for m in groups.members(g.id)} == {
        fake.supervisor: ("Monitoring",),
        AGENT: ("Monitored",),
    }
    assert groups.rename(g.id, "Late shift").name == "Late shift"
    assert groups.resolve("Late shift").id == g.id
    groups.assign(g.id, removed=[AGENT])
    assert [m.extension_id for m in groups.members(g.id)] == [fake.supervisor]
    groups.delete(g.id)
    assert [x.name for x in groups.list()] == ["Support"]
    with pytest.raises(NotFound, match="404 CMN-102"):
        groups.delete(g.id)
    with pytest.raises(NotFound, match="no call monitoring group 'Gone'.*Support"):
        groups.resolve("Gone")
    with pytest.raises(ValueError, match="permissions"):
        Assignment(AGENT, ("Supervisor",))


def test_device_must_be_the_configured_one_and_online(fake, fake_clock):
    fake.add_device("999", "sip:x@127.0.0.1:1", status="Offline", name="desk")
    with pytest.raises(DeviceUnavailable, match="device 999 'desk' is Offline; it must be Online"):
        adapter(fake, fake_clock, device_id="999").open()
    with pytest.raises(DeviceUnavailable, match=r"no device 42 .*60727004 'listenin supervisor'"):
        adapter(fake, fake_clock, device_id="42").open()
    rc = adapter(fake, fake_clock, device_id="", device_name="listenin supervisor")
    rc.open()
    assert rc.device is not None and rc.device.id == DEVICE
    assert rc.device.extension_id == fake.supervisor
    with pytest.raises(DeviceUnavailable, match="set device_id or device_name"):
        pick_device([], "", "")


def test_notifications_drive_per_party_supervision_until_the_call_ends(fake, fake_clock):
    rc, roles = adapter(fake, fake_clock), PartyRoles()
    w = watch(rc, fake_clock, roles)
    rc.open()
    sub = fake.seen("POST", "/restapi/v1.0/subscription$")[0].json()
    assert sorted(sub["eventFilters"]) == [
        f"/restapi/v1.0/account/~/extension/{ext}/telephony/sessions" for ext in (AGENT, OTHER)
    ]
    assert sub["deliveryMode"]["transportType"] == "WebHook"
    sid = fake.start_call(AGENT)
    assert fake.wait_delivered(2)  # Proceeding, then Answered
    w.step()
    posts = fake.seen("POST", "/supervise$")
    assert [p.path for p in posts] == [
        f"/restapi/v1.0/account/~/telephony/sessions/{sid}/parties/{sid}-{n}/supervise"
        for n in (1, 2)
    ]
    assert posts[0].json() == {
        "mode": "Listen",
        "supervisorDeviceId": DEVICE,
        "agentExtensionId": AGENT,
    }
    headers = [dict(leg.headers)["p-rc-api-monitoring-ids"] for _, (leg,) in fake.placer.placed]
    assert headers == [f"party-id={sid}-1;session-id={sid}", f"party-id={sid}-2;session-id={sid}"]
    assert roles.get(sid, f"{sid}-1") == "agent" and roles.get(sid, f"{sid}-2") == "customer"
    assert w.policy.status(sid) == "active" and w.policy.legs_in_use == 2
    w.step()
    assert len(fake.seen("POST", "/supervise$")) == 2  # never twice
    fake.hangup(sid)
    assert fake.wait_delivered(3)
    w.step()
    assert w.policy.status(sid) is None and w.policy.legs_in_use == 0
    rc.close()
    assert fake.subscriptions == {}


def test_session_mode_is_one_mixed_stream_and_a_second_supervisor_is_refused(fake, fake_clock):
    rc = adapter(fake, fake_clock, supervise="session", events="poll")
    w = watch(rc, fake_clock)
    rc.open()
    sid = fake.start_call(AGENT)
    w.step()
    (post,) = fake.seen("POST", "/supervise$")
    assert post.path == f"/restapi/v1.0/account/~/telephony/sessions/{sid}/supervise"
    ((_, (leg,)),) = fake.placer.placed
    assert [p.role for p in leg.parties] == ["mixed"]
    assert dict(leg.headers)["p-rc-api-monitoring-ids"] == f"session-id={sid}"
    other = adapter(fake, fake_clock, supervise="session", events="poll")
    w2 = watch(other, fake_clock)
    other.open()
    w2.step()  # the call already has a supervisor: 409, not retried
    assert w2.policy.status(sid) == "done"
    fake_clock.advance(60)
    w2.step()
    assert len(fake.seen("POST", "/supervise$")) == 2


def test_polling_fallback_when_the_subscription_is_refused(fake, fake_clock, debug_logs):
    fake.fail("POST", "/restapi/v1.0/subscription$", 403)
    rc = adapter(fake, fake_clock)
    w = watch(rc, fake_clock)
    rc.open()
    assert "polling active calls every 5 s instead" in debug_logs.text
    sid = fake.start_call(AGENT)
    w.step()
    assert len(fake.seen("GET", "/active-calls$")) == 2  # one per monitored agent
    assert w.policy.status(sid) == "active"
    fake.hangup(sid)
    w.step()  # within the poll interval: nothing asked
    assert len(fake.seen("GET", "/active-calls$")) == 2
    fake_clock.advance(5)
    w.step()
    assert w.policy.status(sid) is None


def test_server_errors_are_retried_with_backoff(fake, fake_clock):
    rc = adapter(fake, fake_clock, events="poll")
    rc.open()
    fake.fail("GET", f"/extension/{AGENT}/active-calls$", 503, times=2)
    fake.start_call(AGENT)
    obs = rc.poll()
    assert fake_clock.sleeps == [1.0, 2.0] and obs.complete and len(obs.calls) == 1
    fake.fail(
        "GET", f"/extension/{OTHER}/active-calls$", 429, times=1, headers={"Retry-After": "7"}
    )
    fake_clock.advance(5)
    rc.poll()
    assert fake_clock.sleeps[-1] == 7.0


def test_malformed_answers_are_logged_and_retried_later(fake, fake_clock, debug_logs):
    rc = adapter(fake, fake_clock)
    w = watch(rc, fake_clock)
    rc.open()
    req = urllib.request.Request(
        rc.listener.url,
        data=b"{not json",
        method="POST",
        headers={"Verification-Token": rc.listener.verification_token.reveal()},
    )
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(req, timeout=5)
    assert bad.value.code == 400 and rc.listener.malformed == 1
    spoof = urllib.request.Request(rc.listener.url, data=json.dumps({}).encode(), method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(spoof, timeout=5)
    assert refused.value.code == 403
    fake.malformed("GET", "/telephony/sessions/")
    sid = fake.start_call(AGENT)
    assert fake.wait_delivered(2)
    w.step()
    assert "response is not JSON" in debug_logs.text and "will retry" in debug_logs.text
    assert w.policy.status(sid) == "waiting"
    fake_clock.advance(5)
    w.step()
    assert w.policy.status(sid) == "active"


def test_missing_permission_is_logged_once_and_not_retried(fake, fake_clock, debug_logs):
    fake.missing_permission = "CallControl"
    rc = adapter(fake, fake_clock, events="poll")
    w = watch(rc, fake_clock)
    rc.open()
    sid = fake.start_call(AGENT)
    w.step()
    assert "403 InsufficientPermissions" in debug_logs.text and "CallControl" in debug_logs.text
    for _ in range(3):
        fake_clock.advance(5)
        w.step()
    assert w.policy.status(sid) == "done" and len(fake.seen("POST", "/supervise$")) == 1


def test_the_device_call_limit_holds_calls_back(fake, fake_clock):
    rc = adapter(fake, fake_clock, events="poll")
    w = watch(rc, fake_clock, max_calls=4)
    rc.open()
    calls = [fake.start_call(AGENT), fake.start_call(AGENT), fake.start_call(OTHER)]
    w.step()
    assert [w.policy.status(c) for c in calls] == ["active", "active", "waiting"]
    assert w.policy.legs_in_use == 4
    fake.hangup(calls[0])
    fake_clock.advance(5)
    w.step()
    assert [w.policy.status(c) for c in calls] == [None, "active", "active"]


def test_secrets_never_reach_the_logs(fake, fake_clock, debug_logs):
    rc = adapter(fake, fake_clock, events="poll")
    w = watch(rc, fake_clock)
    rc.open()
    fake.tokens.revoke_all()
    fake.fail("GET", "/active-calls$", 401, times=1)
    fake.start_call(AGENT)
    w.step()
    fake_clock.advance(4000)
    w.step()
    text = debug_logs.text + repr(rc.auth.token) + repr(rc.config)
    assert "re-authenticating" in text
    for secret in ["jwt-credential", "app-secret", *fake.tokens.access, *fake.tokens.refresh]:
        assert secret not in text


def test_calls_up_before_the_subscription_are_caught_and_it_is_renewed(fake, fake_clock):
    sid = fake.start_call(AGENT)  # before listenin subscribed
    rc = adapter(fake, fake_clock, subscription_expires_s=3600)
    w = watch(rc, fake_clock)
    rc.open()
    w.step()
    assert w.policy.status(sid) == "active" and len(fake.seen("GET", "/active-calls$")) == 2
    w.step()
    assert len(fake.seen("GET", "/active-calls$")) == 2  # once: events from then on
    fake_clock.advance(3600 - 30)
    w.step()
    assert len(fake.seen("POST", "/subscription/[^/]+/renew$")) == 1
    fake.subscriptions.clear()  # expired on the platform's side: 404, subscribe again
    fake_clock.advance(3600)
    w.step()
    assert len(fake.subscriptions) == 1
