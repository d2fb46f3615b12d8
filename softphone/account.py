"""The device's SIP account: its identity, registration, credentials and media policy.

:func:`account_config` turns :class:`~softphone.config.DeviceConfig` into a
pjsua2 ``AccountConfig`` (registrar and proxy, digest credentials, SDES-SRTP
policy, where PJMEDIA binds its RTP sockets) and names the hosts that become
trusted callers with it.
:class:`DeviceAccount` hands incoming INVITEs and registration changes to the
device; its callbacks run on the device thread and never raise into PJSIP.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pjsua2 as pj

from records.device import RegistrationChanged

from .addresses import uri_hostport
from .config import DeviceConfig
from .endpoint import pj_error
from .reregister import Reregister
from .rtprelay import RtpRelay

log = logging.getLogger(__name__)

_SRTP = {"off": pj.PJMEDIA_SRTP_DISABLED, "optional": pj.PJMEDIA_SRTP_OPTIONAL,
         "mandatory": pj.PJMEDIA_SRTP_MANDATORY}  # fmt: skip


def account_config(cfg: DeviceConfig) -> tuple[pj.AccountConfig, tuple[str, ...]]:
    """The pjsua2 account settings, and the registrar/proxy "host:port"s to trust."""
    acc_cfg = pj.AccountConfig()
    a = cfg.account
    trusted: tuple[str, ...] = ()
    acc_cfg.idUri = f"sip:{a.user}@{a.domain}"
    if a.registrar:
        acc_cfg.regConfig.registrarUri = a.registrar
        acc_cfg.regConfig.timeoutSec = a.register_expires_s
        acc_cfg.regConfig.retryIntervalSec = a.retry_interval_s
        acc_cfg.regConfig.randomRetryIntervalSec = min(10, a.retry_interval_s)  # +-, no herd
        if cfg.admission.trust_registrar:
            trusted += (uri_hostport(a.registrar),)
    else:
        acc_cfg.regConfig.registerOnAdd = False
    acc_cfg.natConfig.udpKaIntervalSec = a.keepalive_s  # CRLF to the registrar; 0: off
    if a.proxy:
        acc_cfg.sipConfig.proxies.append(a.proxy)
        if cfg.admission.trust_registrar:
            trusted += (uri_hostport(a.proxy),)
    if a.contact:  # behind a SIP front: calls must come through it
        acc_cfg.sipConfig.contactForced = f"<{a.contact}>"
    if a.password:
        acc_cfg.sipConfig.authCreds.append(
            pj.AuthCredInfo("digest", "*", a.auth_user or a.user, 0, a.password)
        )
    acc_cfg.mediaConfig.srtpUse = _SRTP[cfg.media.srtp]
    acc_cfg.mediaConfig.srtpSecureSignaling = 0  # SDES keys over UDP signalling too
    media_transport(acc_cfg.mediaConfig.transportConfig, cfg)
    return acc_cfg, trusted


def reregister_for(cfg: DeviceConfig) -> Reregister | None:
    """The retries of refused registrations (see :mod:`softphone.reregister`)."""
    a = cfg.account
    return Reregister(a.retry_interval_s, a.register_expires_s) if a.registrar else None


def media_transport(tc: pj.TransportConfig, cfg: DeviceConfig) -> None:
    """Where PJMEDIA binds its RTP sockets.  With the RTP gate: the loopback, on ports
    the kernel picks (the relay's public sockets face the network).  Without it: the
    bind address, from ``rtp_port`` sequentially, or with PJSIP's ``randomizePort``,
    which randomises only where the sequential run starts (once per account)."""
    t = cfg.transport
    tc.publicAddress = t.media_address
    if cfg.media.rtp_gate.enabled:
        tc.boundAddress = "127.0.0.1"
        tc.port = 0
        return
    tc.boundAddress = t.media_address
    if t.rtp_port is None:
        tc.port, tc.portRange = t.rtp_port_min, t.rtp_port_max - t.rtp_port_min
        tc.randomizePort = True
    else:
        tc.port = t.rtp_port


class DeviceAccount(pj.Account):  # type: ignore[misc]
    def __init__(
        self,
        on_incoming: Callable[[DeviceAccount, pj.OnIncomingCallParam], None],
        on_registration: Callable[[RegistrationChanged], None],
        reregister: Reregister | None = None,
    ) -> None:
        super().__init__()
        self.on_incoming = on_incoming
        self.on_registration = on_registration
        self.reregister = reregister  # retries the refusals PJSUA gives up on
        self.rtp_relay: RtpRelay | None = None  # the legs of this account relay through it

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802
        try:
            self.on_incoming(self, prm)
        except Exception:
            log.exception("incoming call handling failed")

    def onRegState(self, prm: pj.OnRegStateParam) -> None:  # noqa: N802
        try:
            info = self.getInfo()
            active = bool(info.regIsActive)  # regExpiresSec is (unsigned) -1 when not
            expires = int(info.regExpiresSec) if active else 0
            event = RegistrationChanged(int(prm.code), str(prm.reason), active, expires)
            level = logging.INFO if event.registered or prm.code // 100 == 2 else logging.WARNING
            log.log(level, "registration: %d %s (active=%s, expires %d s)",
                    event.code, event.reason, event.registered, event.expires_s)  # fmt: skip
            if self.reregister is not None:
                self.reregister.on_registration(event, time.monotonic())
            self.on_registration(event)
        except Exception:
            log.exception("registration callback failed")

    def tick(self, now_s: float) -> None:
        """Register again when a retry PJSUA would not make is due (device thread)."""
        if self.reregister is None or not self.reregister.due(now_s):
            return
        log.info("registering again after %.0f s", self.reregister.delay_s)
        try:
            self.setRegistration(True)
        except pj.Error as err:
            log.warning("re-registration failed: %s", pj_error(err))
