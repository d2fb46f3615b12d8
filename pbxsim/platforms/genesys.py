"""A fake Genesys Web Services: device operations (ListenIn, CancelSupervisorMonitoring)
and CometD notifications (``/api/v2/notifications``, channel ``/v2/me/devices``).

HTTP Basic authentication on every request.  ``POST /api/v2/me/devices/{id}``
with ``operationName: ListenIn`` answers ``{"statusCode": 0}`` and publishes a
``DeviceStateChangeMessage`` whose device carries ``supervisorMonitoringState``;
``CancelSupervisorMonitoring`` publishes one without it.  The Bayeux handshake /
subscribe / connect long-poll (``hold_s``) are served per client id;
:meth:`FakeGenesys.expire_clients` makes the next connect advise a new
handshake.  :meth:`agent_call` rings a monitored agent device: the supervisor
device (its SIP URI in ``sip``) gets the call as one plain INVITE with the mixed
audio; in NextCall mode monitoring then ends (and is announced).
"""

from __future__ import annotations

import base64
import itertools
import re
import threading
from typing import Any

from pbxsim.plan import SimLeg

from .placer import CallPlacer
from .server import FakeServer, Reply, Request

DEVICES = "/api/v2/me/devices"
CHANNEL = "/v2/me/devices"


class FakeGenesys(FakeServer):
    name = "genesys"

    def __init__(
        self,
        *,
        username: str = "supervisor1",
        password: str = "gws-password",
        placer: CallPlacer | None = None,
        hold_s: float = 0.2,
    ) -> None:
        super().__init__()
        self.username, self.password = username, password
        self.placer = placer or CallPlacer()
        self.hold_s = hold_s
        self.devices: dict[str, dict[str, Any]] = {}
        self.sip: dict[str, str] = {}  # supervisor device id -> SIP URI its calls go to
        self.monitoring: dict[str, dict[str, str]] = {}  # supervisor device -> state
        self.confirm = True  # False: accept ListenIn but never announce it
        self.clients: dict[str, dict[str, Any]] = {}
        self.cond = threading.Condition(self.lock)
        self._ids = itertools.count(1)
        self.route("GET", DEVICES, self._list)
        self.route("POST", DEVICES + r"/(?P<id>[^/]+)", self._operation)
        self.route("POST", "/api/v2/notifications", self._bayeux)

    def error_body(self, status: int, message: str = "") -> Any:
        return {
            "statusCode": {400: 2, 401: 3, 403: 3, 404: 4}.get(status, 1),
            "statusMessage": message or f"error {status}",
        }

    def authorize(self, req: Request) -> Reply | None:
        expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if req.headers.get("authorization") != expected:
            return Reply(401, self.error_body(401, "Unauthorized"))
        return None

    def device_uri(self, device_id: str) -> str:
        return f"{self.url}/api/v2/devices/{device_id}"

    def add_device(self, device_id: str, number: str, sip: str | None = None) -> None:
        self.devices[device_id] = {
            "id": device_id,
            "deviceState": "Active",
            "userState": {
                "id": "900D55CC-2BB0-431F-8BF9-D3525B383BE6",
                "displayName": "Not Ready",
                "state": "NotReady",
            },
            "phoneNumber": number,
            "e164Number": number,
            "telephonyNetwork": "Private",
            "doNotDisturb": "Off",
            "voiceEnvironmentUri": f"{self.url}/api/v2/voice-environments/1",
            "capabilities": ["ForwardCallsOn", "DoNotDisturbOff", "ListenIn", "Coach", "BargeIn"],
        }
        if sip is not None:
            self.sip[device_id] = sip

    # -- notifications --------------------------------------------------------------------
    def _device_json(self, device_id: str) -> dict[str, Any]:
        d = dict(self.devices[device_id])
        state = self.monitoring.get(device_id)
        if state is not None:
            d["capabilities"] = [*d["capabilities"], "CancelSupervisorMonitoring"]
            d["supervisorMonitoringState"] = dict(state)
        return d

    def publish(self, device_id: str) -> None:
        message = {
            "data": {
                "messageType": "DeviceStateChangeMessage",
                "devices": [self._device_json(device_id)],
            },
            "channel": CHANNEL,
        }
        with self.cond:
            for client in self.clients.values():
                if CHANNEL in client["channels"]:
                    client["queue"].append(message)
            self.cond.notify_all()

    def expire_clients(self) -> None:
        with self.cond:
            self.clients.clear()
            self.cond.notify_all()

    def _bayeux(self, req: Request, m: re.Match[str]) -> Reply:
        body = req.json()
        if not isinstance(body, list) or not body or not isinstance(body[0], dict):
            return Reply(400, self.error_body(400, "not a Bayeux message array"))
        msg = body[0]
        channel, cid = msg.get("channel"), msg.get("clientId")
        if channel == "/meta/handshake":
            cid = f"client-{next(self._ids)}"
            self.clients[cid] = {"channels": set(), "queue": []}
            return Reply(
                200,
                [
                    {
                        "channel": channel,
                        "version": "1.0",
                        "successful": True,
                        "clientId": cid,
                        "supportedConnectionTypes": ["long-polling"],
                        "advice": {
                            "reconnect": "retry",
                            "interval": 0,
                            "timeout": int(self.hold_s * 1000),
                        },
                    }
                ],
            )
        client = self.clients.get(str(cid))
        if client is None:
            return Reply(
                200,
                [
                    {
                        "channel": channel,
                        "successful": False,
                        "clientId": cid,
                        "error": "402::Unknown client",
                        "advice": {"reconnect": "handshake", "interval": 0},
                    }
                ],
            )
        if channel == "/meta/subscribe":
            client["channels"].add(msg.get("subscription"))
            return Reply(
                200,
                [
                    {
                        "channel": channel,
                        "successful": True,
                        "clientId": cid,
                        "subscription": msg.get("subscription"),
                    }
                ],
            )
        if channel == "/meta/connect":
            self.cond.wait_for(
                lambda: bool(client["queue"]) or cid not in self.clients, self.hold_s
            )
            if cid not in self.clients:
                return self._bayeux(req, m)
            out, client["queue"] = client["queue"], []
            return Reply(200, [{"channel": channel, "successful": True, "clientId": cid}, *out])
        return Reply(200, [{"channel": channel, "successful": False, "error": "400::bad channel"}])

    # -- device operations -------------------------------------------------------------------
    def _list(self, req: Request, m: re.Match[str]) -> Reply:
        return Reply(
            200, {"statusCode": 0, "devices": [self._device_json(d) for d in self.devices]}
        )

    def _operation(self, req: Request, m: re.Match[str]) -> Reply:
        dev, body = m["id"], req.json()
        if dev not in self.devices:
            return Reply(404, self.error_body(404, f"Device {dev} not found"))
        if not isinstance(body, dict):
            return Reply(400, self.error_body(400, "Request body is not a JSON object"))
        op = body.get("operationName")
        if op == "ListenIn":
            target = str(body.get("targetDeviceUri", ""))
            tid = target.rstrip("/").rsplit("/", 1)[-1]
            if tid not in self.devices or not target.startswith("http"):
                return Reply(400, self.error_body(400, "Invalid targetDeviceUri"))
            scope = body.get("supervisorMonitoringScope", "Call")
            mode = body.get("supervisorMonitoringMode", "AllCalls")
            if scope not in ("Agent", "Call") or mode not in ("NextCall", "AllCalls"):
                return Reply(400, self.error_body(400, "Invalid supervisorMonitoring parameter"))
            self.monitoring[dev] = {
                "state": "ListenIn",
                "mode": mode,
                "scope": scope,
                "targetDeviceUri": target,
                "phoneNumber": self.devices[tid]["phoneNumber"],
            }
        elif op == "CancelSupervisorMonitoring":
            if dev not in self.monitoring:
                return Reply(400, self.error_body(400, "Supervisor monitoring is not active"))
            del self.monitoring[dev]
        else:
            return Reply(400, self.error_body(400, f"Unsupported operationName {op!r}"))
        if self.confirm:
            self.publish(dev)
        return Reply(200, {"statusCode": 0})

    def agent_call(self, target_id: str) -> list[str]:
        """The agent device receives a call: deliver it to every supervisor listening in."""
        delivered = []
        with self.lock:
            for sup, state in list(self.monitoring.items()):
                if not state["targetDeviceUri"].endswith(f"/{target_id}"):
                    continue
                call_id = f"genesys-call-{next(self._ids)}"
                if sup in self.sip:
                    leg = SimLeg(call_id, (self.placer.mixed_party(call_id),), ())
                    self.placer.place(self.sip[sup], (leg,))
                delivered.append(sup)
                if state["mode"] == "NextCall":
                    del self.monitoring[sup]
                    self.publish(sup)
        return delivered
