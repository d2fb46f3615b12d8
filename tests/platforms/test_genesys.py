"""The Genesys adapter against the fake Web Services (HTTP + CometD long-polling, no SIP)."""

from __future__ import annotations

import itertools

import pytest

from pbxsim.platforms.genesys import FakeGenesys
from pbxsim.platforms.placer import CallPlacer
from platforms import platform_config, watcher_for
from platforms.errors import AuthError, BadRequest
from platforms.genesys import Genesys, NotConfirmed

ENV = {"GWS_PASSWORD": "gws-password"}
SUPERVISOR, AGENT = "efe1ab32-53f9-43ce-b65e-5768c61f7d4a", "9c14cad7-17c4-48d0-8492-7cf0ff92c224"


@pytest.fixture
def fake():
    f = FakeGenesys(placer=CallPlacer(dial=False), hold_s=0.05).start()
    f.add_device(SUPERVISOR, "5005", sip="sip:listenin@127.0.0.1:5999")
    f.add_device(AGENT, "5001")
    yield f
    f.stop()


def adapter(fake, fake_clock, env=ENV, clock=None, **table) -> Genesys:
    cfg = platform_config(
        "genesys",
        {
            "base_url": fake.url,
            "username": "supervisor1",
            "supervisor_device_id": SUPERVISOR,
            "target_device_uri": fake.device_uri(AGENT),
            **table,
        },
    )
    return Genesys.from_config(cfg, env, clock=clock or fake_clock.clock, sleep=fake_clock.sleep)


def test_listen_in_is_confirmed_and_calls_reach_the_device(fake, fake_clock):
    gws = adapter(fake, fake_clock, scope="Agent")
    w = watcher_for(gws, gws.config, clock=fake_clock.clock, sleep=fake_clock.sleep)
    gws.open()
    w.step()
    (op,) = fake.seen("POST", f"/api/v2/me/devices/{SUPERVISOR}$")
    assert op.json() == {
        "operationName": "ListenIn",
        "targetDeviceUri": fake.device_uri(AGENT),
        "supervisorMonitoringScope": "Agent",
        "supervisorMonitoringMode": "AllCalls",
    }
    assert op.headers["authorization"].startswith("Basic ")
    assert gws.armed and gws.state["state"] == "ListenIn" and gws.state["scope"] == "Agent"
    assert w.policy.status(gws.call_id) == "active"
    assert fake.agent_call(AGENT) == [SUPERVISOR] and fake.agent_call(AGENT) == [SUPERVISOR]
    ((target, (leg,)), _) = fake.placer.placed
    assert target == "sip:listenin@127.0.0.1:5999" and leg.headers == ()
    w.step()
    assert len(fake.seen("POST", f"/api/v2/me/devices/{SUPERVISOR}$")) == 1
    w.close()  # stops supervising: CancelSupervisorMonitoring
    assert fake.seen("POST", f"/api/v2/me/devices/{SUPERVISOR}$")[-1].json() == {
        "operationName": "CancelSupervisorMonitoring"
    }
    assert SUPERVISOR not in fake.monitoring


def test_next_call_mode_is_re_armed_after_each_call(fake, fake_clock):
    gws = adapter(fake, fake_clock, mode="NextCall")
    w = watcher_for(gws, gws.config, clock=fake_clock.clock, sleep=fake_clock.sleep)
    gws.open()
    w.step()
    fake.agent_call(AGENT)  # monitoring used up: the message without supervisorMonitoringState
    w.step()  # sees it: the pseudo-call ended
    assert not gws.armed and w.policy.status(gws.call_id) is None
    w.step()  # ListenIn again
    assert gws.armed and len(fake.seen("POST", f"/api/v2/me/devices/{SUPERVISOR}$")) == 2


def test_unconfirmed_listen_in_is_retried_later(fake, fake_clock):
    fake.confirm = False
    ticks = itertools.count(0, 1.0)
    gws = adapter(fake, fake_clock, clock=lambda: next(ticks), confirm_timeout_s=3)
    gws.open()
    with pytest.raises(NotConfirmed, match="accepted but not confirmed within 3 s"):
        gws.supervise(gws.poll().calls[0])


def test_errors_are_specific(fake, fake_clock):
    with pytest.raises(AuthError, match="401 3: Unauthorized"):
        adapter(fake, fake_clock, env={"GWS_PASSWORD": "wrong-password"}).open()
    gws = adapter(fake, fake_clock, target_device_uri=fake.url + "/api/v2/devices/nope")
    gws.open()
    with pytest.raises(BadRequest, match="400 2: Invalid targetDeviceUri"):
        gws.supervise(gws.poll().calls[0])


def test_cometd_handshakes_again_when_the_server_forgets_the_client(fake, fake_clock):
    gws = adapter(fake, fake_clock)
    gws.open()
    first = gws.cometd.client_id
    fake.expire_clients()
    gws.poll()
    assert gws.cometd.client_id not in (None, first)
    gws.supervise(gws.poll().calls[0])  # the new client is subscribed: confirmation arrives
    assert gws.armed
