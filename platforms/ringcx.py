"""RingCX (RingCentral Contact Center): monitor agents' calls with Active Call Management.

Poll-then-act, as the documentation recommends: every ``poll_interval_s``
(5-10 s) ``GET .../accounts/{accountId}/activeCalls/list?product=...&productId=...``
lists the calls in flight; an ``ACTIVE``, unarchived call with an agent
assigned (optionally one of ``agents``) is supervised with ``POST
.../activeCalls/{uii}/addSessionToCall?destination=<device number>&sessionType=
MONITOR`` (or COACHING / BARGEIN), and dropped with ``.../hangupSession?phone=``.
Requests stay under ``max_requests_per_min`` (RingCX allows 120 per minute per
token); a 429 is retried with exponential backoff; a 404 on a uii means the
call ended (never retried).  The platform then calls the device's number with a
plain INVITE, which :class:`~platforms.matching.InviteMatcher` pairs
with the uii.  Sign-in is RingCentral's JWT flow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from .base import LiveCall, Observation, Supervision
from .config import RingCXConfig
from .errors import BadRequest, CallGone, MalformedResponse, NotFound
from .http import HttpClient
from .oauth import RingCentralAuth, jwt_credentials
from .pacing import Backoff, RateLimiter
from .ringcentral import describe as rc_describe
from .secret import Secret

log = logging.getLogger(__name__)

NAME = "ringcx"


def describe(body: Any) -> tuple[str | None, str | None]:
    """RingCX error bodies: ``errorCode`` / ``generalMessage`` (+ ``details``)."""
    if not isinstance(body, dict):
        return None, None
    code = body.get("errorCode")
    msg = body.get("generalMessage") or body.get("message")
    if msg and body.get("details"):
        msg = f"{msg} ({body['details']})"
    return (str(code) if code else None, str(msg) if msg else None)


def calls_from_list(body: Any, agents: tuple[str, ...]) -> tuple[LiveCall, ...]:
    """``activeCalls/list`` -> calls; queued calls (no agent yet) are *ringing*."""
    if not isinstance(body, list):
        raise MalformedResponse(NAME, "activeCalls/list did not return an array")
    out = []
    for r in body:
        if not isinstance(r, dict) or not isinstance(r.get("uii"), str) or not r["uii"]:
            raise MalformedResponse(NAME, "activeCalls/list: a call without a uii")
        if r.get("callState") != "ACTIVE" or r.get("archive") is True:
            continue
        agent = " ".join(
            str(r.get(k) or "").strip() for k in ("agentFirstName", "agentLastName")
        ).strip()
        if agents and agent not in agents:
            continue
        state = "answered" if agent else "ringing"
        out.append(LiveCall(r["uii"], agent, state, legs=1, hint=str(r.get("ani") or "")))
    return tuple(out)


class RingCX:
    name = NAME
    invite_names_call = False

    def __init__(
        self,
        config: RingCXConfig,
        client_secret: Secret,
        jwt: Secret,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.config = config
        self.clock = clock
        self.interval_s = min(1.0, config.poll_interval_s)
        backoff = Backoff(max_retries=config.max_retries)
        self.limiter = RateLimiter(config.max_requests_per_min, 60.0)
        auth_http = HttpClient.for_platform(
            NAME,
            config.auth_server_url,
            config,
            sleep=sleep,
            clock=clock,
            backoff=backoff,
            describe=rc_describe,
        )
        self.auth = RingCentralAuth(
            auth_http,
            config.client_id,
            client_secret,
            jwt,
            clock=clock,
            margin_s=config.token_refresh_margin_s,
        )
        self.http = HttpClient.for_platform(
            NAME,
            config.base_url,
            config,
            sleep=sleep,
            clock=clock,
            backoff=backoff,
            limiter=self.limiter,
            describe=describe,
        )
        self.calls_path = f"/accounts/{config.account_id}/activeCalls"
        self._next_poll_s = 0.0

    @classmethod
    def from_config(
        cls, config: RingCXConfig, environ: Mapping[str, str] | None = None, **kw: Any
    ) -> RingCX:
        return cls(config, *jwt_credentials(config, environ), **kw)

    def open(self) -> None:
        self.auth.access_token()
        self._next_poll_s = 0.0
        log.info(
            "%s: signed in; monitoring into %s (%s)",
            NAME,
            self.config.destination,
            self.config.session_type,
        )

    def close(self) -> None:
        self.http.close()
        self.auth.http.close()

    def list_calls(self) -> tuple[LiveCall, ...]:
        query = {
            "product": self.config.product,
            "productId": self.config.product_id or self.config.account_id,
        }
        r = self.http.request("GET", f"{self.calls_path}/list", query=query, auth=self.auth)
        return calls_from_list(r.json(), self.config.agents)

    def poll(self) -> Observation:
        now = self.clock()
        if now < self._next_poll_s:
            return Observation((), complete=False)
        self._next_poll_s = now + self.config.poll_interval_s
        return Observation(self.list_calls(), complete=True)

    def prepare(self, call: LiveCall) -> LiveCall:
        return call

    def _post(self, uii: str, action: str, query: dict[str, str]) -> Any:
        path = f"{self.calls_path}/{uii}/{action}"
        try:
            r = self.http.request("POST", path, query=query, auth=self.auth)
        except NotFound as err:  # a stale uii: the call has archived; never retried
            raise CallGone(NAME, f"call {uii} has ended ({err})") from err
        result = r.json() if r.body.strip() else True
        if result is False:
            raise BadRequest(NAME, f"POST {path}: the platform answered false")
        return result

    def supervise(self, call: LiveCall) -> Supervision:
        self._post(
            call.call_id,
            "addSessionToCall",
            {"destination": self.config.destination, "sessionType": self.config.session_type},
        )
        return Supervision(call.call_id, 1, (self.config.destination,))

    def stop(self, supervision: Supervision) -> None:
        try:
            self._post(supervision.call_id, "hangupSession", {"phone": self.config.destination})
        except CallGone:
            pass
