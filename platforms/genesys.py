"""Genesys (Web Services 8.5): silent monitoring with the ListenIn device operation.

``POST /api/v2/me/devices/{supervisor device}`` with ``{"operationName":
"ListenIn", "targetDeviceUri", "supervisorMonitoringScope": Agent|Call,
"supervisorMonitoringMode": NextCall|AllCalls}`` answers ``{"statusCode": 0}``;
Web Services then confirms with a CometD ``DeviceStateChangeMessage`` on
``/v2/me/devices`` whose device carries ``supervisorMonitoringState.state ==
"ListenIn"``.  From then on each call the agent receives is also delivered to
the supervisor device (listenin) as a plain INVITE.  Cancelled monitoring (the
message without ``supervisorMonitoringState``: NextCall used up, or cancelled
elsewhere) is re-armed.  ``stop`` sends ``CancelSupervisorMonitoring``.

The unit the policy supervises is the agent device, as the pseudo-call
``listen-in:<target device>`` with no legs of its own (the calls come later).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from .base import LiveCall, Observation, Supervision
from .cometd import CometD
from .config import GenesysConfig
from .errors import BadRequest, MalformedResponse, PlatformError
from .http import HttpClient, basic
from .secret import Secret, from_env

log = logging.getLogger(__name__)

NAME = "genesys"
NOTIFICATIONS = "/api/v2/notifications"
DEVICES_CHANNEL = "/v2/me/devices"


class NotConfirmed(PlatformError):
    """ListenIn was accepted but no DeviceStateChangeMessage confirmed it in time."""

    retryable = True


def describe(body: Any) -> tuple[str | None, str | None]:
    if not isinstance(body, dict):
        return None, None
    code, msg = body.get("statusCode"), body.get("statusMessage")
    return (str(code) if code is not None else None, str(msg) if msg else None)


def monitoring_state(message: dict[str, Any], device_id: str) -> tuple[bool, dict[str, Any]]:
    """(is this a DeviceStateChangeMessage about ``device_id``, its supervisorMonitoringState)."""
    data = message.get("data")
    if not isinstance(data, dict) or data.get("messageType") != "DeviceStateChangeMessage":
        return False, {}
    for device in data.get("devices") or []:
        if isinstance(device, dict) and device.get("id") == device_id:
            state = device.get("supervisorMonitoringState")
            return True, state if isinstance(state, dict) else {}
    return False, {}


class BasicAuth:
    def __init__(self, user: str, password: Secret) -> None:
        self.user, self.password = user, password

    def apply(self, headers: dict[str, str], query: dict[str, str]) -> None:
        headers["Authorization"] = basic(self.user, self.password.reveal())

    def invalidate(self) -> None:
        pass


class Genesys:
    name = NAME
    invite_names_call = True  # nothing to pair: the SIP Call-ID names each delivered call

    def __init__(
        self,
        config: GenesysConfig,
        password: Secret,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.config = config
        self.clock = clock
        self.interval_s = config.check_interval_s
        self.http = HttpClient.for_platform(
            NAME, config.base_url, config, sleep=sleep, clock=clock, describe=describe
        )
        self.auth = BasicAuth(config.username, password)
        self.cometd = CometD(self.http, NOTIFICATIONS, self.auth)
        self.device_path = f"/api/v2/me/devices/{config.supervisor_device_id}"
        self.call_id = "listen-in:" + config.target_device_uri.rstrip("/").rsplit("/", 1)[-1]
        self.state: dict[str, Any] = {}  # the last supervisorMonitoringState seen
        self.armed = False  # our ListenIn is confirmed and in force

    @classmethod
    def from_config(
        cls, config: GenesysConfig, environ: Mapping[str, str] | None = None, **kw: Any
    ) -> Genesys:
        env = dict(environ) if environ is not None else None
        return cls(config, from_env(config.password_env, "password_env", env), **kw)

    def open(self) -> None:
        self.cometd.subscribe(DEVICES_CHANNEL)
        log.info("%s: listening for device state on %s", NAME, DEVICES_CHANNEL)

    def close(self) -> None:
        self.http.close()

    def _operation(self, body: dict[str, str]) -> None:
        r = self.http.request("POST", self.device_path, json_body=body, auth=self.auth).json()
        if not isinstance(r, dict) or not isinstance(r.get("statusCode"), int):
            raise MalformedResponse(NAME, f"POST {self.device_path}: no statusCode")
        if r["statusCode"] != 0:
            raise BadRequest(
                NAME,
                f"{body['operationName']}: statusCode {r['statusCode']}: "
                f"{r.get('statusMessage', '')}",
                code=str(r["statusCode"]),
            )

    def _drain(self) -> bool:
        """One long poll; True when a DeviceStateChangeMessage about our device came."""
        seen = False
        for message in self.cometd.connect():
            mine, state = monitoring_state(message, self.config.supervisor_device_id)
            if mine:
                seen, self.state = True, state
        return seen

    def poll(self) -> Observation:
        self._drain()
        if self.armed and self.state.get("state") != "ListenIn":
            self.armed = False
            log.info(
                "%s: monitoring of %s ended (mode %s); re-arming",
                NAME,
                self.config.target_device_uri,
                self.config.mode,
            )
            return Observation(
                (LiveCall(self.call_id, self.config.target_device_uri, "ended", legs=0),),
                complete=False,
            )
        return Observation(
            (LiveCall(self.call_id, self.config.target_device_uri, "answered", legs=0),),
            complete=False,
        )

    def prepare(self, call: LiveCall) -> LiveCall:
        return call

    def supervise(self, call: LiveCall) -> Supervision:
        body = {
            "operationName": "ListenIn",
            "targetDeviceUri": self.config.target_device_uri,
            "supervisorMonitoringScope": self.config.scope,
            "supervisorMonitoringMode": self.config.mode,
        }
        if self.config.phone_number:
            body["phoneNumber"] = self.config.phone_number
        self._operation(body)
        deadline = self.clock() + self.config.confirm_timeout_s
        for _ in range(100):
            if self._drain() and self.state.get("state") == "ListenIn":
                self.armed = True
                log.info(
                    "%s: ListenIn on %s confirmed (%s, %s)",
                    NAME,
                    self.config.target_device_uri,
                    self.state.get("mode"),
                    self.state.get("scope"),
                )
                return Supervision(call.call_id, 0, (self.config.supervisor_device_id,))
            if self.clock() >= deadline:
                break
        raise NotConfirmed(
            NAME,
            f"ListenIn on {self.config.target_device_uri} accepted but not "
            f"confirmed within {self.config.confirm_timeout_s:.0f} s",
        )

    def stop(self, supervision: Supervision) -> None:
        self._operation({"operationName": "CancelSupervisorMonitoring"})
        self.armed = False
