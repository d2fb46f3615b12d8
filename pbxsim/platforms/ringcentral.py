"""A fake RingCentral: OAuth, call monitoring groups, devices, telephony sessions, supervise.

Follows the RingCentral documentation's paths and bodies (``/restapi/v1.0/account/~/
call-monitoring-groups``..., ``.../extension/{id}/device``, ``.../active-calls``,
``.../telephony/sessions/{id}``, ``.../supervise``, ``/restapi/v1.0/subscription``
with WebHook delivery and its ``Validation-Token`` check).  Test drivers:
:meth:`FakeRingCentral.start_call`, :meth:`answer`, :meth:`hangup`; telephony
session notifications go to every matching WebHook subscription from a sender
thread.  A supervise request places the SIP call(s) to the device's SIP URI
(``sip_targets``): the whole session as one mixed stream, or one INVITE per
party, with ``p-rc-api-monitoring-ids``.  The call hangs up when its audio ends.

One supervisor per call (another supervise answers 409), the supervisor must
hold Monitoring and the agent Monitored in a common group (else 403), and the
device must be Online (else 400).
"""

from __future__ import annotations

import itertools
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from pbxsim.plan import SimLeg

from .oauth import TokenIssuer
from .placer import CallPlacer
from .rc_groups import ACCT, V1, MonitoringGroupsFake, now_iso, paged, rc_error
from .rc_webhooks import WebhookSubscriptionsFake
from .server import FakeServer, Notifier, Reply, Request

log = logging.getLogger(__name__)

SESSIONS = ACCT + "/telephony/sessions"


@dataclass
class FakeSession:
    id: str
    agent: str
    parties: list[dict[str, Any]]
    sequence: int = 0
    supervisor_device: str | None = None
    supervised_parties: set[str] = field(default_factory=set)
    legs_open: int = 0
    ended: bool = False


class FakeRingCentral(WebhookSubscriptionsFake, MonitoringGroupsFake, FakeServer):
    name = "ringcentral"

    def __init__(
        self,
        *,
        client_id: str = "app-id",
        client_secret: str = "app-secret",
        jwt: str = "jwt-credential",
        account_id: str = "400144452008",
        supervisor: str = "400144455008",
        placer: CallPlacer | None = None,
        auto_hangup: bool = True,
    ) -> None:
        super().__init__()
        self.account_id, self.supervisor = account_id, supervisor
        self.tokens = TokenIssuer(client_id, client_secret, jwt, owner_id=supervisor)
        self.placer = placer or CallPlacer()
        self.auto_hangup = auto_hangup
        self.extensions: dict[str, str] = {supervisor: "102"}  # id -> extension number
        self.devices: dict[str, list[dict[str, Any]]] = {supervisor: []}
        self.sip_targets: dict[str, str] = {}  # device id -> SIP URI the supervise call goes to
        self.groups: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, FakeSession] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.missing_permission: str | None = None  # e.g. "CallControl": supervise answers 403
        self._ids = itertools.count(1)
        self.notifier = Notifier(self.name)
        r = self.route
        r("POST", "/restapi/oauth/token", self.tokens.token, auth=False)
        self.group_routes()
        r("GET", ACCT + r"/extension/(?P<ext>[^/]+)/device", self._devices)
        r("GET", ACCT + r"/extension/(?P<ext>[^/]+)/active-calls", self._active_calls)
        r("GET", SESSIONS + r"/(?P<sid>[^/]+)", self._session)
        r("POST", SESSIONS + r"/(?P<sid>[^/]+)/supervise", self._supervise)
        r("POST", SESSIONS + r"/(?P<sid>[^/]+)/parties/(?P<pid>[^/]+)/supervise", self._supervise)
        r("DELETE", SESSIONS + r"/(?P<sid>[^/]+)/parties/(?P<pid>[^/]+)", self._drop_party)
        self.subscription_routes()

    # -- platform conventions ---------------------------------------------------------
    def error_body(self, status: int, message: str = "") -> Any:
        code, default = {
            400: ("CMN-101", "Parameter value is invalid"),
            401: ("TokenInvalid", "Access token corrupted"),
            403: (
                "InsufficientPermissions",
                "In order to call this API endpoint, "
                "application needs to have [CallControl] permission",
            ),
            404: ("CMN-102", "Resource is not found"),
            429: ("CMN-301", "Request rate exceeded"),
            503: ("CMN-211", "Service Temporary Unavailable"),
        }.get(status, ("CMN-201", "Internal Server Error"))
        return rc_error(status, code, message or default).body

    def authorize(self, req: Request) -> Reply | None:
        return self.tokens.check(req)

    # -- set-up helpers -----------------------------------------------------------------
    def add_device(
        self,
        device_id: str,
        sip_uri: str,
        status: str = "Online",
        name: str = "listenin supervisor",
    ) -> None:
        self.devices[self.supervisor].append(
            {
                "uri": f"https://platform.ringcentral.com{V1}/account/{self.account_id}/device/{device_id}",
                "id": device_id,
                "type": "OtherPhone",
                "sku": "DV-1",
                "name": name,
                "serial": "listenin",
                "computerName": "listenin",
                "status": status,
                "extension": {
                    "uri": f"{V1}/account/{self.account_id}/extension/{self.supervisor}",
                    "id": int(self.supervisor),
                    "extensionNumber": self.extensions[self.supervisor],
                },
            }
        )
        self.sip_targets[device_id] = sip_uri

    def add_agent(self, ext_id: str, number: str) -> None:
        self.extensions[ext_id] = number

    # -- test drivers ---------------------------------------------------------------------
    def start_call(
        self,
        agent: str,
        session_id: str | None = None,
        answer: bool = True,
        customer: str = "+16505550100",
    ) -> str:
        sid = session_id or f"s-{next(self._ids)}"
        number = self.extensions[agent]
        with self.lock:
            self.sessions[sid] = FakeSession(
                sid,
                agent,
                [
                    {
                        "id": f"{sid}-1",
                        "extensionId": agent,
                        "direction": "Inbound",
                        "from": {"phoneNumber": customer, "name": "Customer"},
                        "to": {"phoneNumber": number, "name": "Agent", "extensionId": agent},
                        "owner": {"accountId": self.account_id, "extensionId": agent},
                        "status": {"code": "Proceeding"},
                        "missedCall": False,
                        "standAlone": False,
                        "muted": False,
                    },
                    {
                        "id": f"{sid}-2",
                        "direction": "Outbound",
                        "from": {"phoneNumber": customer, "name": "Customer"},
                        "to": {"phoneNumber": number, "name": "Agent", "extensionId": agent},
                        "status": {"code": "Setup"},
                        "missedCall": False,
                        "standAlone": False,
                        "muted": False,
                    },
                ],
            )
            self._notify(self.sessions[sid])
        if answer:
            self.answer(sid)
        return sid

    def answer(self, sid: str) -> None:
        with self.lock:
            s = self.sessions[sid]
            for p in s.parties:
                p["status"] = {"code": "Answered"}
            self._notify(s)

    def hangup(self, sid: str) -> None:
        with self.lock:
            s = self.sessions.get(sid)
            if s is None or s.ended:
                return
            s.ended = True
            for p in s.parties:
                p["status"] = {"code": "Disconnected"}
            self._notify(s)

    def stop(self) -> None:
        self.notifier.close()
        super().stop()

    # -- groups -------------------------------------------------------------------------------
    # -- devices, calls, sessions -------------------------------------------------------------
    def _devices(self, req: Request, m: re.Match[str]) -> Reply:
        ext = self.supervisor if m["ext"] == "~" else m["ext"]
        if ext not in self.extensions:
            return rc_error(404, "CMN-102", "Resource for parameter [extensionId] is not found")
        return Reply(200, paged(req.path, self.devices.get(ext, [])))

    def _active_calls(self, req: Request, m: re.Match[str]) -> Reply:
        records = [
            {
                "uri": f"{V1}/account/{self.account_id}/extension/{m['ext']}/active-calls",
                "id": f"call-{s.id}",
                "sessionId": str(400000 + len(s.id)),
                "telephonySessionId": s.id,
                "startTime": now_iso(),
                "duration": 1,
                "type": "Voice",
                "direction": "Inbound",
                "action": "Phone Call",
                "result": "In Progress",
                "from": s.parties[0]["from"],
                "to": s.parties[0]["to"],
            }
            for s in self.sessions.values()
            if s.agent == m["ext"] and not s.ended
        ]
        return Reply(200, paged(req.path, records))

    def _live(self, sid: str) -> FakeSession | None:
        s = self.sessions.get(sid)
        return None if s is None or s.ended else s

    def _session(self, req: Request, m: re.Match[str]) -> Reply:
        s = self._live(m["sid"])
        if s is None:
            return rc_error(404, "TAS-102", f"Telephony session [{m['sid']}] not found")
        return Reply(
            200,
            {
                "creationTime": now_iso(),
                "id": s.id,
                "origin": {"type": "Call"},
                "parties": s.parties,
            },
        )

    def _supervise(self, req: Request, m: re.Match[str]) -> Reply:
        body = req.json()
        if self.missing_permission:
            return rc_error(
                403,
                "InsufficientPermissions",
                "In order to call this API endpoint, "
                f"application needs to have [{self.missing_permission}] permission",
                permissionName=self.missing_permission,
            )
        s = self._live(m["sid"])
        if s is None:
            return rc_error(404, "TAS-102", f"Telephony session [{m['sid']}] not found")
        if not isinstance(body, dict) or body.get("mode") != "Listen":
            return rc_error(400, "CMN-101", "Parameter [mode] value is invalid: only Listen")
        device, agent = body.get("supervisorDeviceId"), body.get("agentExtensionId")
        dev = next((d for d in self.devices[self.supervisor] if d["id"] == device), None)
        if dev is None:
            return rc_error(400, "CMN-101", "Parameter [supervisorDeviceId] value is invalid")
        if dev["status"] != "Online":
            return rc_error(400, "TAS-107", f"Device [{device}] is not online")
        if agent != s.agent or not self._may_monitor(agent):
            return rc_error(403, "TAS-105", f"Supervisor may not monitor extension [{agent}]")
        pid = m.groupdict().get("pid")
        if (
            s.supervisor_device not in (None, device)
            or (pid and pid in s.supervised_parties)
            or (not pid and s.supervised_parties)
        ):
            return rc_error(409, "TAS-104", "Call is already supervised")
        party = next((p for p in s.parties if p["id"] == pid), None) if pid else None
        if pid and party is None:
            return rc_error(404, "TAS-103", f"Party [{pid}] not found")
        s.supervisor_device = device
        s.supervised_parties.add(pid or "*")
        sim = self.placer.session(s.id)
        if pid:
            who = tuple(p for p in sim.parties if p.party_id == pid)
            ids = f"party-id={pid};session-id={s.id}"
        else:
            who, ids = (self.placer.mixed_party(s.id),), f"session-id={s.id}"
        sup_party = f"{s.id}-sup-{len(s.supervised_parties)}"
        leg = SimLeg(
            s.id,
            who,
            (
                ("p-rc-api-ids", f"party-id={sup_party};session-id={s.id}"),
                ("p-rc-api-monitoring-ids", ids),
            ),
        )
        s.legs_open += 1
        self.placer.place(self.sip_targets[str(device)], (leg,), lambda _r: self._leg_done(s))
        return Reply(
            200,
            {
                "direction": "Outbound",
                "from": {"phoneNumber": "102", "extensionId": self.supervisor},
                "to": party["to"] if party else s.parties[0]["to"],
                "id": sup_party,
                "accountId": self.account_id,
                "extensionId": self.supervisor,
                "muted": False,
                "owner": {"accountId": self.account_id, "extensionId": self.supervisor},
                "standAlone": False,
                "status": {"code": "Setup"},
            },
        )

    def _leg_done(self, s: FakeSession) -> None:
        with self.lock:
            s.legs_open -= 1
            done = s.legs_open == 0
        if done and self.auto_hangup:
            self.hangup(s.id)

    def _drop_party(self, req: Request, m: re.Match[str]) -> Reply:
        s = self._live(m["sid"])
        if s is None:
            return rc_error(404, "TAS-102", f"Telephony session [{m['sid']}] not found")
        return Reply(204)
