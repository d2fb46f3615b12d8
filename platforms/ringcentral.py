"""RingCentral: supervise agents' calls through the Call Supervise API.

``open`` signs in (JWT -> access token), finds the supervisor device among the
supervisor extension's devices (``GET .../extension/{id}/device``; the
configured one, which must be ``Online``), reads the Monitored members of the
configured call monitoring groups and subscribes to their telephony session
events over a WebHook to a local listener.  ``poll`` turns received
notifications into calls; without a subscription (``events = "poll"``, or the
subscription failed) it polls ``GET .../extension/{id}/active-calls`` every
``poll_interval_s`` instead.  ``prepare`` reads the session
(``GET .../telephony/sessions/{id}``) for the parties' partyIds and roles;
``supervise`` posts ``{"mode": "Listen", "supervisorDeviceId",
"agentExtensionId"}`` to ``.../sessions/{id}/supervise`` (one mixed stream) or
to ``.../sessions/{id}/parties/{partyId}/supervise`` once per party (a stream
each).  ``stop`` drops the supervisor's parties (``DELETE .../parties/{id}``).
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from .base import CallParty, LiveCall, Observation, Supervision
from .config import RingCentralConfig, split_hostport
from .devices import SupervisorDevice, pick_device
from .errors import (
    CallGone,
    DeviceUnavailable,
    MalformedResponse,
    NotFound,
    NotReady,
    PlatformError,
)
from .http import HttpClient
from .monitoring import MonitoringGroups
from .oauth import RingCentralAuth, jwt_credentials
from .secret import Secret
from .telephony import (
    ENDED,
    TALKING,
    MalformedNotification,
    SessionTracker,
    parse_notification,
    parse_session,
)
from .webhook import WebhookListener

log = logging.getLogger(__name__)

NAME = "ringcentral"
ACCOUNT = "/restapi/v1.0/account/~"
SESSIONS = f"{ACCOUNT}/telephony/sessions"
SUBSCRIPTION = "/restapi/v1.0/subscription"


def describe(body: Any) -> tuple[str | None, str | None]:
    """RingCentral error bodies: ``errorCode`` / ``message`` (or OAuth's ``error``)."""
    if not isinstance(body, dict):
        return None, None
    code = body.get("errorCode") or body.get("error")
    msg = body.get("message") or body.get("error_description")
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        code = code or first.get("errorCode")
        msg = msg or first.get("message")
        if first.get("permissionName"):
            msg = f"{msg} (permission {first['permissionName']})"
    return (str(code) if code else None, str(msg) if msg else None)


class RingCentral:
    name = NAME
    invite_names_call = True  # p-rc-api-monitoring-ids: session-id=<telephonySessionId>

    def __init__(
        self,
        config: RingCentralConfig,
        client_secret: Secret,
        jwt: Secret,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.config = config
        self.clock = clock
        self.interval_s = config.check_interval_s
        self.http = HttpClient.for_platform(
            NAME, config.server_url, config, sleep=sleep, clock=clock, describe=describe
        )
        self.auth = RingCentralAuth(
            self.http,
            config.client_id,
            client_secret,
            jwt,
            clock=clock,
            margin_s=config.token_refresh_margin_s,
        )
        self.groups = MonitoringGroups(self.http, self.auth)
        self.device: SupervisorDevice | None = None
        self.agents: set[str] = set()
        self.tracker = SessionTracker(self.agents, 2 if config.supervise == "party" else 1)
        self.listener: WebhookListener | None = None
        self.subscription_id: str | None = None
        self.subscription_expires_at_s = 0.0
        self._next_poll_s = 0.0
        self._catch_up = True
        self.malformed = 0

    @classmethod
    def from_config(
        cls, config: RingCentralConfig, environ: Mapping[str, str] | None = None, **kw: Any
    ) -> RingCentral:
        return cls(config, *jwt_credentials(config, environ), **kw)

    def _get(self, path: str, **kw: Any) -> Any:
        return self.http.request("GET", path, auth=self.auth, **kw).json()

    # -- open / close ------------------------------------------------------------
    def open(self) -> None:
        self.auth.access_token()
        self.device = self.find_device()
        log.info("%s: supervising from device %s %r", NAME, self.device.id, self.device.name)
        self.agents.clear()
        self.agents.update(self.groups.monitored(self.config.groups))
        if not self.agents:
            log.warning(
                "%s: no Monitored members in the call monitoring groups %s",
                NAME,
                list(self.config.groups) or "(all)",
            )
        else:
            log.info("%s: watching %d agent extensions", NAME, len(self.agents))
        if self.config.events == "webhook":
            try:
                self.subscribe()
            except PlatformError as err:
                log.warning(
                    "%s: no telephony session subscription (%s); polling active calls "
                    "every %.0f s instead",
                    NAME,
                    err,
                    self.config.poll_interval_s,
                )
                self._stop_listener()

    def close(self) -> None:
        if self.subscription_id is not None:
            try:
                self.http.request(
                    "DELETE", f"{SUBSCRIPTION}/{self.subscription_id}", auth=self.auth
                )
            except PlatformError as err:
                log.warning("%s: deleting the subscription: %s", NAME, err)
            self.subscription_id = None
        self._stop_listener()
        self.http.close()

    def _stop_listener(self) -> None:
        if self.listener is not None:
            self.listener.stop()
            self.listener = None

    def find_device(self) -> SupervisorDevice:
        ext = self.config.supervisor_extension_id
        body = self._get(f"{ACCOUNT}/extension/{ext}/device")
        records = body.get("records") if isinstance(body, dict) else None
        return pick_device(records, self.config.device_id, self.config.device_name)

    # -- notifications -----------------------------------------------------------------
    def event_filters(self) -> list[str]:
        if self.config.event_level == "account":
            return [f"{ACCOUNT}/telephony/sessions"]
        return [f"{ACCOUNT}/extension/{ext}/telephony/sessions" for ext in sorted(self.agents)]

    def subscribe(self) -> None:
        if self.listener is None:
            host, port = split_hostport(self.config.webhook_bind)
            self.listener = WebhookListener(host, port)
            self.listener.start()
        token = Secret(secrets.token_urlsafe(24))
        self.listener.verification_token = token
        filters = self.event_filters()
        body = {
            "eventFilters": filters,
            "deliveryMode": {
                "transportType": "WebHook",
                "address": self.config.webhook_url or self.listener.url,
                "verificationToken": token.reveal(),
            },
            "expiresIn": self.config.subscription_expires_s,
        }
        r = self.http.request("POST", SUBSCRIPTION, json_body=body, auth=self.auth).json()
        self._subscribed(r)
        log.info("%s: subscribed to telephony session events (%d filters)", NAME, len(filters))

    def _subscribed(self, r: Any) -> None:
        if not isinstance(r, dict) or not r.get("id"):
            raise MalformedResponse(NAME, f"POST {SUBSCRIPTION}: no subscription id")
        expires = r.get("expiresIn")
        expires = expires if isinstance(expires, int) and expires > 0 else 900
        self.subscription_id = str(r["id"])
        self.subscription_expires_at_s = self.clock() + expires

    def _renew_if_due(self) -> None:
        if self.subscription_id is None:
            return
        if self.clock() < self.subscription_expires_at_s - max(60.0, self.config.poll_interval_s):
            return
        try:
            r = self.http.request(
                "POST", f"{SUBSCRIPTION}/{self.subscription_id}/renew", auth=self.auth
            ).json()
            self._subscribed(r)
            log.info("%s: subscription renewed", NAME)
        except NotFound:
            log.warning("%s: the subscription is gone; subscribing again", NAME)
            self.subscription_id = None
            self.subscribe()

    # -- calls ---------------------------------------------------------------------
    def poll(self) -> Observation:
        if self.subscription_id is not None and self.listener is not None:
            self._renew_if_due()
            calls = self._from_notifications()
            if self._catch_up:  # calls already up before the subscription: one look
                self._catch_up = False
                calls = list(self.active_calls().calls) + calls
            return Observation(tuple(calls), complete=False)
        now = self.clock()
        if now < self._next_poll_s:
            return Observation((), complete=False)
        self._next_poll_s = now + self.config.poll_interval_s
        return self.active_calls()

    def _from_notifications(self) -> list[LiveCall]:
        assert self.listener is not None
        calls = []
        for payload in self.listener.drain():
            try:
                event = parse_notification(payload)
            except MalformedNotification as err:
                self.malformed += 1
                log.warning("%s: malformed telephony notification dropped: %s", NAME, err)
                continue
            if event is None:
                continue
            call = self.tracker.push(event)
            if call is not None:
                calls.append(call)
        return calls

    def active_calls(self) -> Observation:
        """The fallback: every monitored agent's ``active-calls`` (a complete snapshot when
        every request succeeded)."""
        calls, complete = [], True
        for ext in sorted(self.agents):
            try:
                body = self._get(f"{ACCOUNT}/extension/{ext}/active-calls")
            except PlatformError as err:
                complete = False
                log.warning("%s: active calls of extension %s: %s", NAME, ext, err)
                continue
            records = body.get("records") if isinstance(body, dict) else None
            if not isinstance(records, list):
                complete = False
                log.warning("%s: active calls of extension %s: no records list", NAME, ext)
                continue
            for r in records:
                sid = r.get("telephonySessionId") if isinstance(r, dict) else None
                if isinstance(sid, str) and sid and r.get("result") == "In Progress":
                    calls.append(LiveCall(sid, ext, "answered", legs=self.tracker.legs))
        return Observation(tuple(calls), complete=complete)

    def session_call(self, session_id: str, agent: str | None = None) -> LiveCall:
        """A session named by hand (``listenin supervise --session``): its monitored agent is
        ``agent`` or the first party that belongs to a Monitored group member."""
        try:
            sid, parties = parse_session(self._get(f"{SESSIONS}/{session_id}"))
        except NotFound as err:
            raise CallGone(NAME, f"session {session_id} is gone ({err})") from err
        except MalformedNotification as err:
            raise MalformedResponse(NAME, f"GET {SESSIONS}/{session_id}: {err}") from err
        ext = agent or next((p.extension_id for p in parties if p.extension_id in self.agents), "")
        if not ext:
            raise NotFound(NAME, f"session {sid} has no party of a Monitored agent (give --agent)")
        return LiveCall(sid, ext, "answered", legs=self.tracker.legs)

    def prepare(self, call: LiveCall) -> LiveCall:
        """Read the session: is the agent talking, and which parties are there."""
        try:
            sid, parties = parse_session(self._get(f"{SESSIONS}/{call.call_id}"))
        except NotFound as err:
            raise CallGone(NAME, f"session {call.call_id} is gone ({err})") from err
        except MalformedNotification as err:
            raise MalformedResponse(NAME, f"GET {SESSIONS}/{call.call_id}: {err}") from err
        agent = next((p for p in parties if p.extension_id == call.agent), None)
        if agent is None:
            raise NotReady(NAME, f"session {sid} has no party of agent {call.agent} yet")
        if agent.status in ENDED:
            raise CallGone(NAME, f"agent {call.agent} left session {sid}")
        if agent.status not in TALKING:
            raise NotReady(NAME, f"agent {call.agent} is {agent.status} in session {sid}")
        supervisor = self.device.extension_id if self.device else ""
        listened = [
            p
            for p in parties
            if p.status not in ENDED and not (supervisor and p.extension_id == supervisor)
        ]
        roles = tuple(
            CallParty(p.party_id, "agent" if p is agent else "customer") for p in listened
        )
        legs = len(roles) if self.config.supervise == "party" else 1
        return dataclasses.replace(call, parties=roles, legs=legs)

    def supervise(self, call: LiveCall) -> Supervision:
        if self.device is None:
            raise DeviceUnavailable(NAME, "open() first: no supervisor device")
        body = {
            "mode": "Listen",
            "supervisorDeviceId": self.device.id,
            "agentExtensionId": call.agent,
        }
        if self.config.supervise == "session":
            handle = self._post_supervise(f"{SESSIONS}/{call.call_id}/supervise", body)
            return Supervision(call.call_id, 1, (handle,), session_id=call.call_id)
        handles: list[str] = []
        for party in call.parties:
            path = f"{SESSIONS}/{call.call_id}/parties/{party.party_id}/supervise"
            try:
                handles.append(self._post_supervise(path, body))
            except PlatformError as err:
                if not handles:
                    raise
                log.warning(
                    "%s: call %s: party %s not supervised: %s",
                    NAME,
                    call.call_id,
                    party.party_id,
                    err,
                )
        return Supervision(call.call_id, len(handles), tuple(handles), session_id=call.call_id)

    def _post_supervise(self, path: str, body: dict[str, str]) -> str:
        try:
            r = self.http.request("POST", path, json_body=body, auth=self.auth).json()
        except NotFound as err:
            raise CallGone(NAME, str(err).removeprefix(f"{NAME}: ")) from err
        if not isinstance(r, dict) or not r.get("id"):
            raise MalformedResponse(NAME, f"POST {path}: no supervisor party id in the response")
        return str(r["id"])

    def stop(self, supervision: Supervision) -> None:
        for party_id in supervision.handles:
            try:
                self.http.request(
                    "DELETE", f"{SESSIONS}/{supervision.call_id}/parties/{party_id}", auth=self.auth
                )
            except NotFound:
                pass  # already gone with the call
