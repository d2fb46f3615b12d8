"""Registration with digest auth and supervise calls routed through kamailio."""

from __future__ import annotations

import threading
import time

from records.device import LegAnswered, LegEnded, LegRejected, RegistrationChanged
from softphone.config import AccountConfig, AdmissionConfig, DeviceConfig, TransportConfig
from softphone.front import behind_front, front_config
from softphone.kamailio import KamailioFront

from ..softphone.conftest import drain, run_sim
from .conftest import PASSWORD, free_udp_port


def registered_device(make_device, kamailio, password=PASSWORD, expires=300):
    config = DeviceConfig(
        account=AccountConfig(
            "listenin",
            "127.0.0.1",
            password,
            registrar=kamailio.uri,
            register_expires_s=expires,
            retry_interval_s=1,
        ),  # fmt: skip
        transport=TransportConfig(udp_port=0, rtp_port=0),
        admission=AdmissionConfig(trusted=()),  # only the registrar may call us
    )
    return make_device(config)


def test_registers_with_digest_and_takes_calls_only_through_the_registrar(make_device, kamailio):
    dev = registered_device(make_device, kamailio)
    got = drain(dev, lambda g: any(r.registered for r in g.of(RegistrationChanged)), timeout=10)
    assert any(r.code == 200 and r.registered for r in got.of(RegistrationChanged))

    out: dict = {}
    via_registrar = threading.Thread(
        target=lambda: out.update(r=run_sim(f"sip:listenin@127.0.0.1:{kamailio.port}",
                                            "--form", "two-streams", "--seconds", "2"))
    )  # fmt: skip
    via_registrar.start()
    drain(dev, lambda g: g.of(LegEnded), into=got)
    via_registrar.join()
    assert out["r"][0] == 0
    (answered,) = got.of(LegAnswered)
    assert answered.source == f"127.0.0.1:{kamailio.port}"
    assert len(got.frames) == 2

    rc, legs = run_sim(f"sip:listenin@{dev.address}", "--seconds", "1")  # around the registrar
    assert rc == 3 and legs[0]["status"] == 403
    drain(dev, lambda g: g.of(LegRejected), timeout=5, into=got)
    assert got.of(LegRejected)[0].reason.startswith("untrusted source")


def test_wrong_password_is_reported(make_device, kamailio):
    dev = registered_device(make_device, kamailio, password="wrong")
    got = drain(dev, lambda g: g.of(RegistrationChanged), timeout=10)
    first = got.of(RegistrationChanged)[0]
    assert not first.registered and first.code in (401, 403)


def test_a_refusal_pjsua_gives_up_on_is_retried(make_device, kamailio):
    """403 is not one of the codes PJSUA retries: the device registers again by itself."""
    config = DeviceConfig(
        account=AccountConfig(
            "listenin",
            "127.0.0.1",
            PASSWORD,
            registrar=kamailio.uri,
            auth_user="intruder",
            retry_interval_s=1,
        ),  # fmt: skip
        transport=TransportConfig(udp_port=0, rtp_port=0),
    )
    dev = make_device(config)
    got = drain(dev, lambda g: len(g.of(RegistrationChanged)) >= 2, timeout=15)
    assert [r.code for r in got.of(RegistrationChanged)] == [403, 403]
    assert dev.registration == got.of(RegistrationChanged)[-1]


def test_recovers_after_the_registrar_restarts(make_device, kamailio):
    dev = registered_device(make_device, kamailio, expires=10)
    got = drain(dev, lambda g: any(r.registered for r in g.of(RegistrationChanged)), timeout=10)
    kamailio.stop()  # the refresh fails, the device retries every second
    drain(dev, lambda g: any(not r.registered or r.code >= 300
                             for r in g.of(RegistrationChanged)), timeout=20, into=got)  # fmt: skip
    failed_at = len(got.events)
    kamailio.start()  # a fresh registrar knows nothing of us until we register again

    def later(g):
        return [e for e in g.events[failed_at:] if isinstance(e, RegistrationChanged)]

    drain(dev, lambda g: any(r.code == 200 for r in later(g)), timeout=30, into=got)
    regs = later(got)
    assert any(r.code == 200 for r in regs), got.of(RegistrationChanged)


def test_behind_the_front_the_registered_contact_is_the_front(make_device, kamailio):
    """REGISTER advertises the front's public address, so the registrar's INVITEs pass the
    front, and the device still knows they came from the registrar (the front's header)."""
    public, internal = free_udp_port(), free_udp_port()
    config = DeviceConfig(
        account=AccountConfig("listenin", "127.0.0.1", PASSWORD, registrar=kamailio.uri),
        transport=TransportConfig(udp_port=public, rtp_port=0),
        admission=AdmissionConfig(trusted=()),  # only the registrar may call us
    )
    dev = make_device(behind_front(config, internal))
    front = KamailioFront(front_config(config, (int(dev.address.rsplit(":", 1)[1]),), internal))
    front.start()
    try:
        got = drain(dev, lambda g: any(r.registered for r in g.of(RegistrationChanged)), 10)
        assert any(r.code == 200 and r.registered for r in got.of(RegistrationChanged))
        rc, _ = run_sim(kamailio.uri.replace("sip:", "sip:listenin@"), "--seconds", "2")
        assert rc == 0
        drain(dev, lambda g: g.of(LegEnded), into=got)
        (answered,) = got.of(LegAnswered)
        assert answered.source == f"127.0.0.1:{kamailio.port}"  # not the front's address
        rc, legs = run_sim(f"sip:listenin@{front.config.public}", "--seconds", "1")
        assert rc == 3 and legs[0]["status"] == 403  # around the registrar: the front refuses
    finally:
        front.stop()
    rc, legs = run_sim(kamailio.uri.replace("sip:", "sip:listenin@"), "--seconds", "1")
    assert rc != 0  # no front, no call: the registrar knows only the front's address


def test_recovers_after_the_path_to_the_registrar_is_lost_longer_than_the_expiry(
    make_device, registrar_link, monkeypatch
):
    """A network outage, not a restart: the registrar keeps running, the path to it is cut
    for longer than the registration lasts, then mended.  The device says it is not
    registered while cut, registers again by itself, and calls reach it again."""
    k, link = registrar_link
    config = DeviceConfig(
        account=AccountConfig(
            "listenin",
            "127.0.0.1",
            PASSWORD,
            registrar=k.uri,
            register_expires_s=10,
            retry_interval_s=2,
        ),  # fmt: skip
        transport=TransportConfig(bind_address=link.host, udp_port=0, rtp_port=0),
        admission=AdmissionConfig(trusted=()),  # only the registrar may call us
    )
    dev = make_device(config)
    got = drain(dev, lambda g: any(r.registered for r in g.of(RegistrationChanged)), timeout=10)
    assert dev.registration is not None and dev.registration.registered

    link.cut()
    cut_at = time.monotonic()
    drain(dev, lambda g: not g.of(RegistrationChanged)[-1].registered, timeout=90, into=got)
    lost = got.of(RegistrationChanged)[-1]
    noticed_s = time.monotonic() - cut_at
    assert not lost.registered and lost.code >= 300, got.of(RegistrationChanged)
    assert dev.registration == lost  # the state is visible, not only in the stream
    time.sleep(max(0.0, 12 - noticed_s))  # past the expiry: kamailio forgot the binding

    link.mend()
    mended_at = time.monotonic()
    drain(dev, lambda g: g.of(RegistrationChanged)[-1].registered, timeout=60, into=got)
    assert got.of(RegistrationChanged)[-1].registered, got.of(RegistrationChanged)
    recovered_s = time.monotonic() - mended_at
    print(f"\nregistrar path cut: noticed after {noticed_s:.1f} s (expires 10 s), "
          f"registered again {recovered_s:.1f} s after it was mended")  # fmt: skip

    monkeypatch.setenv("PBXSIM_ADDRESS", link.host)  # the platform calls through the registrar
    rc, _ = run_sim(f"sip:listenin@{link.peer}:{k.port}", "--seconds", "2")
    assert rc == 0
    drain(dev, lambda g: g.of(LegEnded), into=got)
    (answered,) = got.of(LegAnswered)
    assert answered.source == f"{link.peer}:{k.port}"
