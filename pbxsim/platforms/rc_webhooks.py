"""The fake RingCentral's WebHook subscriptions and telephony session notifications.

``/restapi/v1.0/subscription``: create (with the listener's ``Validation-Token``
echo check), renew and delete WebHook subscriptions; :meth:`_notify` posts a
telephony session notification to every subscription whose event filter
matches the session's agent (extension or account level), from the
``notifier``'s sender thread.  Mixed into
:class:`~pbxsim.platforms.ringcentral.FakeRingCentral`, whose ``subscriptions``,
``account_id``, ``supervisor``, ``notifier``, ``lock``, ``_ids`` and ``route``
it uses.
"""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

from .rc_groups import V1, now_iso, rc_error
from .server import Reply, Request


class WebhookSubscriptionsFake:
    subscriptions: dict[str, dict[str, Any]]
    account_id: str
    supervisor: str
    notifier: Any
    lock: Any
    _ids: Any
    route: Any

    def subscription_routes(self) -> None:
        r = self.route
        r("POST", V1 + "/subscription", self._subscribe, locked=False)  # calls the listener
        r("POST", V1 + r"/subscription/(?P<id>[^/]+)/renew", self._renew)
        r("DELETE", V1 + r"/subscription/(?P<id>[^/]+)", self._unsubscribe)

    # -- notifications ----------------------------------------------------------------------
    def _notify(self, s: Any) -> None:  # a ringcentral.FakeSession
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
