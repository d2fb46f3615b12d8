"""End to end, per platform: the watcher sees the call on the fake platform, asks to
supervise it, the fake has the simulator place the INVITE(s) to a real pjsua2 device,
the audio runs through the live pipeline and the real model, and text comes out.

Each call plays 10 s of fixtures/call2 from 20 s: the agent's last words, then the
customer's first sentence.
"""

from __future__ import annotations

import socket
import threading

import pytest

from listenin.live import LiveJob
from pbxsim.platforms.genesys import FakeGenesys
from pbxsim.platforms.placer import CallPlacer
from pbxsim.platforms.ringcentral import FakeRingCentral
from pbxsim.platforms.ringcx import FakeRingCX
from pbxsim.platforms.yeastar import FakeYeastar
from pipeline.runtime import Pipeline, PipelineConfig
from platforms import make_platform, platform_config, watcher_for
from records.events import CallEnded, TranscriptFinal
from softphone.admission import PartyRoles
from tests.softphone.conftest import device_config

RC_ENV = {"RC_CLIENT_SECRET": "app-secret", "RC_JWT": "jwt-credential"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Live:
    """A real device + pipeline, with a platform watcher wired to the device's events."""

    def __init__(self, engine, name: str, table: dict, environ: dict) -> None:
        self.config = platform_config(name, table)
        self.stop = threading.Event()
        self.platform = make_platform(self.config, environ, sleep=self.stop.wait)
        self.roles = PartyRoles()
        self.watcher = watcher_for(
            self.platform, self.config, roles=self.roles, sleep=self.stop.wait
        )
        self.events: list = []
        self.pipeline = Pipeline(engine, self._sink, PipelineConfig(asr_workers=2))
        self.job = LiveJob(
            self.pipeline, device_config(), self.roles, on_device_event=self.watcher.device_event
        )
        self.job.start()
        self.thread = threading.Thread(target=self.watcher.run, args=(self.stop.is_set,))

    def _sink(self, event) -> None:
        self.events.append(event)
        self.job.note_event(event)

    @property
    def sip_uri(self) -> str:
        return f"sip:listenin@{self.job.address}"

    def run_watcher(self) -> None:
        self.thread.start()
        assert self.watcher.opened.wait(10)

    def finish(self, calls: int = 1) -> dict[str, dict[str, str]]:
        """Wait for the calls to end; the finals' text per (call, party)."""
        try:
            assert self.job.wait_calls_ended(calls, 60)
        finally:
            self.stop.set()
            if self.thread.is_alive():
                self.thread.join(10)
            self.job.stop()
            self.pipeline.pool.wait_idle(30)
            self.pipeline.close()
        out: dict[str, dict[str, str]] = {}
        for e in sorted(
            (e for e in self.events if isinstance(e, TranscriptFinal)), key=lambda e: e.start
        ):
            if e.text:
                texts = out.setdefault(e.call_id, {})
                texts[e.party] = (texts.get(e.party, "") + " " + e.text).strip()
        assert any(isinstance(e, CallEnded) for e in self.events)
        return out


def words(text: str) -> set[str]:
    return {w.strip(".,!?").lower() for w in text.split()}


@pytest.fixture
def placer():
    p = CallPlacer("call2", start_s=20.0, seconds=10.0)
    yield p
    p.close()


def test_ringcentral_per_party_supervision_end_to_end(engine, placer):
    fake = FakeRingCentral(placer=placer).start()
    fake.add_agent("400144460001", "101")
    fake.add_group("Support", [fake.supervisor], ["400144460001"])
    live = Live(
        engine,
        "ringcentral",
        {
            "client_id": "app-id",
            "server_url": fake.url,
            "device_id": "60727004",
            "webhook_bind": "127.0.0.1:0",
        },
        RC_ENV,
    )
    try:
        fake.add_device("60727004", live.sip_uri)
        live.run_watcher()
        sid = fake.start_call("400144460001")
        texts = live.finish()
    finally:
        fake.stop()
    assert len(fake.seen("POST", "/parties/[^/]+/supervise$")) == 2
    assert set(texts) == {sid} and set(texts[sid]) == {"agent", "customer"}
    print(texts)
    assert words(texts[sid]["agent"]) & {"pound", "key", "hanging", "pressing"}
    assert words(texts[sid]["customer"]) & {"john", "leisure", "consider", "power"}


def test_ringcx_monitor_end_to_end(engine, placer):
    fake = FakeRingCX(placer=placer).start()
    live = Live(
        engine,
        "ringcx",
        {
            "client_id": "app-id",
            "account_id": "12440011",
            "destination": "+15554150123",
            "auth_server_url": fake.url,
            "base_url": fake.url + "/voice/api/v1/admin",
        },
        RC_ENV,
    )
    try:
        fake.phones["15554150123"] = live.sip_uri
        uii = fake.start_call()
        live.run_watcher()
        texts = live.finish()
    finally:
        fake.stop()
    ((sip_session, parties),) = texts.items()
    assert live.watcher.call_for(sip_session) == uii
    print(texts)
    assert words(" ".join(parties.values())) & {"pound", "key", "john", "leisure", "consider"}


def test_yeastar_listen_end_to_end(engine, placer):
    fake = FakeYeastar(placer=placer).start()
    port = free_port()
    live = Live(
        engine,
        "yeastar",
        {
            "base_url": fake.url,
            "client_id": "ys-client-id",
            "monitor": "2008",
            "webhook_bind": f"127.0.0.1:{port}",
        },
        {"YEASTAR_CLIENT_SECRET": "ys-secret"},
    )
    try:
        fake.extensions.update({"2008": live.sip_uri, "2000": None})
        fake.monitor_allowed.add("2000")
        fake.webhook_url = f"http://127.0.0.1:{port}/"
        live.run_watcher()
        call_id = fake.start_call("2000")
        texts = live.finish()
    finally:
        fake.stop()
    ((sip_session, parties),) = texts.items()
    assert live.watcher.call_for(sip_session) == call_id
    print(texts)
    assert words(" ".join(parties.values())) & {"pound", "key", "john", "leisure", "consider"}


def test_genesys_listen_in_end_to_end(engine, placer):
    fake = FakeGenesys(placer=placer).start()
    fake.add_device("agent-dn", "5001")
    live = Live(
        engine,
        "genesys",
        {
            "base_url": fake.url,
            "username": "supervisor1",
            "supervisor_device_id": "supervisor-dn",
            "target_device_uri": fake.device_uri("agent-dn"),
        },
        {"GWS_PASSWORD": "gws-password"},
    )
    try:
        fake.add_device("supervisor-dn", "5005", sip=live.sip_uri)
        live.watcher.platform.open()
        live.watcher.step()  # ListenIn, confirmed by a DeviceStateChangeMessage
        assert live.platform.armed  # type: ignore[attr-defined]
        assert fake.agent_call("agent-dn") == ["supervisor-dn"]
        texts = live.finish()
    finally:
        fake.stop()
    print(texts)
    assert words(" ".join(t for p in texts.values() for t in p.values())) & {
        "pound",
        "key",
        "john",
        "leisure",
        "consider",
    }
