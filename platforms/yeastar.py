"""Yeastar P-Series: monitor extensions' calls with ``call/listen``.

Sign-in: ``POST {api}/get_token`` with the API client id / secret as
``username`` / ``password`` gives an ``access_token`` (30 min) carried as
``?access_token=`` on every request, and a ``refresh_token`` used with ``POST
{api}/refresh_token`` before it expires.  Every request sends ``User-Agent:
OpenAPI``.  Responses carry ``errcode`` (0: success) and ``errmsg``; a non-zero
``errcode`` becomes a :class:`~platforms.errors.BadRequest` naming
both (an invalid-token answer re-authenticates once).

Calls are learnt from the PBX's (30011) Call Status Changed events, pushed by
its webhook to a local listener: a watched extension member ``ANSWER``/
``ANSWERED`` makes the call supervisable, ``BYE`` ends it.  ``supervise`` posts
``{"monitor", "channel_id", "type"}`` to ``{api}/call/listen``; the PBX then
calls the monitor extension (listenin) with a plain INVITE.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .base import LiveCall, Observation, Supervision
from .config import YeastarConfig, split_hostport
from .errors import AuthError, BadRequest, MalformedResponse
from .http import HttpClient
from .secret import Secret, from_env
from .webhook import WebhookListener

log = logging.getLogger(__name__)

NAME = "yeastar"
CALL_STATUS_CHANGED = 30011
TALKING = frozenset({"ANSWER", "ANSWERED", "HOLD"})
MEMBER_KINDS = ("extension", "inbound", "outbound")


def checked(body: Any, what: str) -> dict[str, Any]:
    """A Yeastar response body, or the error its ``errcode`` / ``errmsg`` say."""
    if not isinstance(body, dict) or not isinstance(body.get("errcode"), int):
        raise MalformedResponse(NAME, f"{what}: no errcode in the response")
    if body["errcode"] != 0:
        msg = str(body.get("errmsg", "FAILURE"))
        cls = AuthError if "TOKEN" in msg.upper() else BadRequest
        raise cls(NAME, f"{what}: errcode {body['errcode']}: {msg}", code=str(body["errcode"]))
    return body


@dataclass(frozen=True, slots=True)
class Member:
    kind: str  # extension | inbound | outbound
    number: str  # the extension number, or the outside number (from / to)
    channel_id: str
    status: str  # ALERT RING EARLYMEDIA ANSWERED ANSWER HOLD BYE


class MalformedEvent(ValueError):
    pass


def parse_event(payload: Any) -> tuple[str, tuple[Member, ...]] | None:
    """A (30011) event -> (call_id, members); None for other event types."""
    if not isinstance(payload, dict):
        raise MalformedEvent("event is not a JSON object")
    if str(payload.get("type")) != str(CALL_STATUS_CHANGED):
        return None
    msg = payload.get("msg")
    if isinstance(msg, str):  # the PBX sends msg as a JSON string
        try:
            msg = json.loads(msg)
        except ValueError as err:
            raise MalformedEvent(f"msg is not JSON: {err}") from err
    if not isinstance(msg, dict) or not isinstance(msg.get("call_id"), str):
        raise MalformedEvent("30011 event without msg.call_id")
    members = []
    for m in msg.get("members") or []:
        if not isinstance(m, dict):
            raise MalformedEvent("a member is not an object")
        for kind in MEMBER_KINDS:
            info = m.get(kind)
            if isinstance(info, dict):
                number = info.get("number") if kind == "extension" else info.get("from")
                members.append(
                    Member(
                        kind,
                        str(number or ""),
                        str(info.get("channel_id", "")),
                        str(info.get("member_status", "")),
                    )
                )
    return msg["call_id"], tuple(members)


def call_of(call_id: str, members: tuple[Member, ...], watched: tuple[str, ...]) -> LiveCall | None:
    """The first watched extension in the call, as a :class:`LiveCall` (target: its channel)."""
    agent = next(
        (
            m
            for m in members
            if m.kind == "extension" and m.channel_id and (not watched or m.number in watched)
        ),
        None,
    )
    if agent is None:
        return None
    if agent.status == "BYE":
        state = "ended"
    else:
        state = "answered" if agent.status in TALKING else "ringing"
    other = next((m.number for m in members if m is not agent), "")
    return LiveCall(call_id, agent.number, state, legs=1, target=agent.channel_id, hint=other)


class YeastarAuth:
    """``access_token`` in the query string; refreshed ``margin_s`` before expiry."""

    def __init__(
        self,
        http: HttpClient,
        api: str,
        client_id: str,
        client_secret: Secret,
        *,
        clock: Callable[[], float],
        margin_s: float,
    ) -> None:
        self.http, self.api = http, api
        self.client_id, self.client_secret = client_id, client_secret
        self.clock, self.margin_s = clock, margin_s
        self._access: Secret | None = None
        self._access_until = 0.0
        self._refresh: Secret | None = None
        self._refresh_until = 0.0
        self.logins = self.refreshes = 0

    def apply(self, headers: dict[str, str], query: dict[str, str]) -> None:
        query["access_token"] = self.access_token()

    def invalidate(self) -> None:
        self._access_until = float("-inf")

    def access_token(self) -> str:
        now = self.clock()
        if self._access is not None and now < self._access_until - self.margin_s:
            return self._access.reveal()
        if self._refresh is not None and now < self._refresh_until - self.margin_s:
            try:
                self._grant("refresh_token", {"refresh_token": self._refresh.reveal()})
                self.refreshes += 1
                return self._access.reveal()  # type: ignore[union-attr]
            except (AuthError, BadRequest) as err:
                log.warning("%s: token refresh refused (%s); getting a new token", NAME, err)
        try:
            self._grant(
                "get_token", {"username": self.client_id, "password": self.client_secret.reveal()}
            )
        except BadRequest as err:
            raise AuthError(NAME, f"getting an API token failed: {err}", code=err.code) from err
        self.logins += 1
        log.info("%s: got an API access token", NAME)
        return self._access.reveal()  # type: ignore[union-attr]

    def _grant(self, endpoint: str, body: dict[str, str]) -> None:
        now = self.clock()
        path = f"{self.api}/{endpoint}"
        r = checked(
            self.http.request("POST", path, json_body=body, idempotent=True).json(), f"POST {path}"
        )
        access, expires = r.get("access_token"), r.get("access_token_expire_time")
        if not isinstance(access, str) or not isinstance(expires, int):
            raise MalformedResponse(NAME, f"POST {path}: no access_token / expire time")
        self._access, self._access_until = Secret(access), now + expires
        refresh, refresh_expires = r.get("refresh_token"), r.get("refresh_token_expire_time")
        if isinstance(refresh, str) and isinstance(refresh_expires, int):
            self._refresh, self._refresh_until = Secret(refresh), now + refresh_expires


class Yeastar:
    name = NAME
    invite_names_call = False

    def __init__(
        self,
        config: YeastarConfig,
        client_secret: Secret,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.config = config
        self.interval_s = config.check_interval_s
        self.api = "/" + config.api_path.strip("/")
        self.http = HttpClient.for_platform(
            NAME, config.base_url, config, sleep=sleep, clock=clock, user_agent="OpenAPI"
        )
        self.auth = YeastarAuth(
            self.http,
            self.api,
            config.client_id,
            client_secret,
            clock=clock,
            margin_s=config.token_refresh_margin_s,
        )
        self.listener: WebhookListener | None = None
        self.malformed = 0

    @classmethod
    def from_config(
        cls, config: YeastarConfig, environ: Mapping[str, str] | None = None, **kw: Any
    ) -> Yeastar:
        env = dict(environ) if environ is not None else None
        return cls(config, from_env(config.client_secret_env, "client_secret_env", env), **kw)

    def open(self) -> None:
        self.auth.access_token()
        host, port = split_hostport(self.config.webhook_bind)
        self.listener = WebhookListener(host, port)
        self.listener.start()
        log.info("%s: point the PBX's API webhook at %s", NAME, self.listener.url)

    def close(self) -> None:
        if self.listener is not None:
            self.listener.stop()
            self.listener = None
        self.http.close()

    def poll(self) -> Observation:
        calls = []
        for payload in self.listener.drain() if self.listener else []:
            try:
                parsed = parse_event(payload)
            except MalformedEvent as err:
                self.malformed += 1
                log.warning("%s: malformed event dropped: %s", NAME, err)
                continue
            if parsed is not None:
                call = call_of(*parsed, self.config.extensions)
                if call is not None:
                    calls.append(call)
        return Observation(tuple(calls), complete=False)

    def prepare(self, call: LiveCall) -> LiveCall:
        return call

    def request(self, path: str, body: dict[str, str]) -> dict[str, Any]:
        """POST an API request; an invalid-token errcode gets one fresh token and a retry."""
        for attempt in (1, 2):
            r = self.http.request("POST", f"{self.api}/{path}", json_body=body, auth=self.auth)
            try:
                return checked(r.json(), f"POST {self.api}/{path}")
            except AuthError:
                if attempt == 2:
                    raise
                self.auth.invalidate()
        raise AssertionError("unreachable")  # pragma: no cover

    def supervise(self, call: LiveCall) -> Supervision:
        body = {
            "monitor": self.config.monitor,
            "channel_id": call.target or call.call_id,
            "type": self.config.type,
        }
        r = self.request("call/listen", body)
        return Supervision(call.call_id, 1, (str(r.get("call_id", "")),))

    def stop(self, supervision: Supervision) -> None:
        log.info(
            "%s: call %s: the monitor leg ends when the device hangs up or the call ends",
            NAME,
            supervision.call_id,
        )
