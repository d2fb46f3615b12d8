"""A fake RingCX: Active Call Management (list, addSessionToCall, hangupSession, hangupCall).

Paths and bodies as documented under ``/voice/api/v1/admin/accounts/{accountId}/
activeCalls``; sign-in through the shared fake RingCentral token endpoint.
Requests are limited to ``rate_limit_per_min`` per token (429), a uii that is
not ACTIVE any more answers 404, a user without supervisor permission
(``deny``) gets the documented 403 ``access.denied.exception`` body.
``addSessionToCall`` has the simulator call the destination number's SIP URI
(``phones``) with one plain INVITE carrying the call's mixed audio; when that
audio ends, the call ends.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
from collections import deque
from typing import Any

from pbxsim.plan import SimLeg

from .oauth import TokenIssuer
from .placer import CallPlacer
from .server import FakeServer, Reply, Request

log = logging.getLogger(__name__)

CALLS = r"/voice/api/v1/admin/accounts/(?P<acct>[^/]+)/activeCalls"
SESSION_TYPES = ("MONITOR", "COACHING", "BARGEIN")


def digits(number: str) -> str:
    return number.strip().removeprefix("+")


class FakeRingCX(FakeServer):
    name = "ringcx"

    def __init__(
        self,
        *,
        client_id: str = "app-id",
        client_secret: str = "app-secret",
        jwt: str = "jwt-credential",
        account_id: str = "12440011",
        placer: CallPlacer | None = None,
        rate_limit_per_min: int = 120,
        auto_hangup: bool = True,
    ) -> None:
        super().__init__()
        self.account_id = account_id
        self.tokens = TokenIssuer(client_id, client_secret, jwt)
        self.placer = placer or CallPlacer()
        self.auto_hangup = auto_hangup
        self.rate_limit_per_min = rate_limit_per_min
        self.phones: dict[str, str] = {}  # supervisor number (digits) -> SIP URI
        self.calls: dict[str, dict[str, Any]] = {}  # uii -> ActiveCallListResponse
        self.sessions: dict[str, set[str]] = {}  # uii -> supervisor phones attached
        self.deny = False
        self._sent: dict[str, deque[float]] = {}
        self._uii = itertools.count(19657)
        self.route("POST", "/restapi/oauth/token", self.tokens.token, auth=False)
        self.route("GET", CALLS + "/list", self._list)
        self.route("POST", CALLS + r"/(?P<uii>[^/]+)/addSessionToCall", self._add_session)
        self.route("POST", CALLS + r"/(?P<uii>[^/]+)/hangupSession", self._hangup_session)
        self.route("POST", CALLS + r"/(?P<uii>[^/]+)/hangupCall", self._hangup_call)

    def error_body(self, status: int, message: str = "", path: str = "", method: str = "") -> Any:
        code = {
            400: "invalid.parameter",
            401: "unauthorized",
            403: "access.denied.exception",
            404: "not.found",
            429: "too.many.requests",
        }.get(status, "internal.error")
        return {
            "errorCode": code,
            "generalMessage": message or f"error {status}",
            "details": "",
            "requestUri": f"{path.removeprefix('/voice')} - {method}",
            "timestamp": int(time.time() * 1000),
        }

    def _error(self, req: Request, status: int, message: str) -> Reply:
        return Reply(status, self.error_body(status, message, req.path, req.method))

    def authorize(self, req: Request) -> Reply | None:
        if self.tokens.check(req) is not None:
            return self._error(req, 401, "Full authentication is required to access this resource")
        token = req.headers["authorization"][7:]
        now = time.monotonic()
        sent = self._sent.setdefault(token, deque())
        while sent and sent[0] <= now - 60:
            sent.popleft()
        if len(sent) >= self.rate_limit_per_min:
            return self._error(req, 429, "Too Many Requests")
        sent.append(now)
        m = re.match(CALLS, req.path)
        if self.deny or (m and m["acct"] != self.account_id):
            return self._error(req, 403, "You do not have permission to access this resource")
        return None

    # -- test drivers ------------------------------------------------------------------
    def start_call(
        self,
        agent: tuple[str, str] | None = ("Paco", "Vu"),
        ani: str = "6501234567",
        uii: str | None = None,
    ) -> str:
        """A call in flight; ``agent=None``: still queued (no agent, no dequeueTime)."""
        uii = uii or f"2020050810404401320500000{next(self._uii)}"
        with self.lock:
            self.calls[uii] = {
                "uii": uii,
                "accountId": self.account_id,
                "ani": ani,
                "dnis": "8661234567",
                "dnisE164": "+18661234567",
                "enqueueTime": "2020-05-08T14:40:47.000+0000",
                "dequeueTime": "2020-05-08T14:40:49.000+0000" if agent else None,
                "callState": "ACTIVE",
                "archive": False,
                "agentFirstName": agent[0] if agent else None,
                "agentLastName": agent[1] if agent else None,
                "destinationName": None,
                "externalId": None,
                "cnam": None,
            }
        return uii

    def end_call(self, uii: str) -> None:
        with self.lock:
            self.calls.pop(uii, None)
            self.sessions.pop(uii, None)

    # -- endpoints -----------------------------------------------------------------------
    def _list(self, req: Request, m: re.Match[str]) -> Reply:
        product, pid = req.query.get("product", "ACCOUNT"), req.query.get("productId")
        if product == "ACCOUNT" and pid not in (None, self.account_id):
            return Reply(200, [])
        if product not in ("ACCOUNT", "ACD"):
            return Reply(200, [])
        return Reply(200, list(self.calls.values()))

    def _call(self, req: Request, m: re.Match[str]) -> dict[str, Any] | None:
        call = self.calls.get(m["uii"])
        return call if call is not None and call["callState"] == "ACTIVE" else None

    def _add_session(self, req: Request, m: re.Match[str]) -> Reply:
        call = self._call(req, m)
        if call is None:
            return self._error(req, 404, f"Call {m['uii']} not found")
        dest, kind = req.query.get("destination", ""), req.query.get("sessionType", "")
        if kind not in SESSION_TYPES:
            return self._error(req, 400, f"sessionType must be one of {', '.join(SESSION_TYPES)}")
        if not digits(dest).isdigit():
            return self._error(req, 400, "destination must be a phone number")
        target = self.phones.get(digits(dest))
        self.sessions.setdefault(m["uii"], set()).add(digits(dest))
        if target is None:
            log.warning("fake ringcx: %s is not a simulated device; no call placed", dest)
        else:
            uii = m["uii"]
            leg = SimLeg(uii, (self.placer.mixed_party(uii),), ())
            done = (lambda _r: self.end_call(uii)) if self.auto_hangup else None
            self.placer.place(target, (leg,), done)
        return Reply(200, True)

    def _hangup_session(self, req: Request, m: re.Match[str]) -> Reply:
        if self._call(req, m) is None:
            return self._error(req, 404, f"Call {m['uii']} not found")
        phone = digits(req.query.get("phone", ""))
        if phone not in self.sessions.get(m["uii"], set()):
            return self._error(req, 400, f"no session for phone {phone}")
        self.sessions[m["uii"]].discard(phone)
        return Reply(200, True)

    def _hangup_call(self, req: Request, m: re.Match[str]) -> Reply:
        if self._call(req, m) is None:
            return self._error(req, 404, f"Call {m['uii']} not found")
        self.end_call(m["uii"])
        return Reply(200, True)
