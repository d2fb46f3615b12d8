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
import json
import logging
import re
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from pbxsim.plan import SimLeg

from .oauth import TokenIssuer
from .placer import CallPlacer
from .rc_groups import ACCT, V1, MonitoringGroupsFake, now_iso, paged, rc_error
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


class FakeRingCentral(MonitoringGroupsFake, FakeServer):
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
        r("POST", V1 + "/subscription", self._subscribe, locked=False)  # calls the listener
        r("POST", V1 + r"/subscription/(?P<id>[^/]+)/renew", self._renew)
        r("DELETE", V1 + r"/subscription/(?P<id>[^/]+)", self._unsubscribe)

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

    # -- notifications ----------------------------------------------------------------------
    def _notify(self, s: FakeSession) -> None:
        s.sequence += 1
        for sub in self.subscriptions.values():
            for flt in sub["eventFilters"]:
                m = re.fullmatch(
                    V1 + r"/account/~(?:/extension/(?P<ext>[^/]+))?/telephony/sessions", flt
                )
                if not m or (m["ext"] not in (None, "~", s.agent)):
                    continue
                ext = m["ext"] if m["ext"] not in (None, "~") else None
                parties = [p for p in s.parties if ext is None or p.get("extensionId") == ext]
                where = f"/extension/{ext}" if ext else ""
                body = {
                    "uuid": str(next(self._ids)),
                    "event": f"{V1}/account/{self.account_id}{where}/telephony/sessions",
                    "timestamp": now_iso(),
                    "subscriptionId": sub["id"],
                    "ownerId": self.supervisor,
                    "body": {
                        "sequence": s.sequence,
                        "sessionId": str(400000 + len(s.id)),
                        "telephonySessionId": s.id,
                        "serverId": "10.62.25.111.TAM",
                        "eventTime": now_iso(),
                        "accountId": self.account_id,
                        "parties": json.loads(json.dumps(parties)),
                        "origin": {"type": "Call"},
                        "extensionId": ext or s.agent,
                    },
                }
                token = sub.get("verificationToken", "")
                self.notifier.post(
                    sub["address"], body, {"Verification-Token": token} if token else {}
                )
                break

    @property
    def delivered(self) -> list[Any]:
        return self.notifier.delivered

    def wait_delivered(self, count: int, timeout_s: float = 5.0) -> bool:
        return self.notifier.wait_delivered(count, timeout_s)

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

    # -- subscriptions -------------------------------------------------------------------------
    def _subscription_json(self, sub: dict[str, Any]) -> dict[str, Any]:
        return {
            "uri": f"https://platform.ringcentral.com{V1}/subscription/{sub['id']}",
            "id": sub["id"],
            "creationTime": now_iso(),
            "status": "Active",
            "eventFilters": sub["eventFilters"],
            "expirationTime": now_iso(),
            "expiresIn": sub["expiresIn"],
            "deliveryMode": {"transportType": "WebHook", "address": sub["address"]},
        }

    def _subscribe(self, req: Request, m: re.Match[str]) -> Reply:
        body = req.json()
        mode = body.get("deliveryMode") if isinstance(body, dict) else None
        filters = body.get("eventFilters") if isinstance(body, dict) else None
        if not isinstance(filters, list) or not filters or not isinstance(mode, dict):
            return rc_error(400, "CMN-101", "Parameter [eventFilters] value is invalid")
        if mode.get("transportType") != "WebHook" or not mode.get("address"):
            return rc_error(400, "SUB-522", "WebHook delivery needs an address")
        token = "vt-" + str(next(self._ids))
        try:  # the validation request: the listener must echo Validation-Token
            r = urllib.request.urlopen(
                urllib.request.Request(
                    mode["address"], data=b"", method="POST", headers={"Validation-Token": token}
                ),
                timeout=5,
            )
            echoed = r.headers.get("Validation-Token")
            r.close()
        except OSError:
            echoed = None
        if echoed != token:
            return rc_error(
                400,
                "SUB-523",
                "WebHook responds with incorrect HTTP status or HTTP header Validation-Token",
            )
        sid = f"sub-{next(self._ids)}"
        with self.lock:
            self.subscriptions[sid] = {
                "id": sid,
                "eventFilters": filters,
                "address": mode["address"],
                "verificationToken": mode.get("verificationToken", ""),
                "expiresIn": int(body.get("expiresIn", 604800)),
            }
        return Reply(200, self._subscription_json(self.subscriptions[sid]))

    def _renew(self, req: Request, m: re.Match[str]) -> Reply:
        sub = self.subscriptions.get(m["id"])
        if sub is None:
            return rc_error(404, "SUB-404", f"Subscription [{m['id']}] not found")
        return Reply(200, self._subscription_json(sub))

    def _unsubscribe(self, req: Request, m: re.Match[str]) -> Reply:
        if self.subscriptions.pop(m["id"], None) is None:
            return rc_error(404, "SUB-404", f"Subscription [{m['id']}] not found")
        return Reply(204)
