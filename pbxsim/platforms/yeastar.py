"""A fake Yeastar P-Series PBX API: tokens, (30011) Call Status Changed webhooks, call/listen.

``POST /openapi/v1.0/get_token`` (``username`` / ``password`` = client id /
secret) and ``refresh_token`` issue tokens; every other request must carry
``?access_token=`` and a ``User-Agent``.  Answers are HTTP 200 with ``errcode`` /
``errmsg`` (0 / ``SUCCESS``); the error codes here are the fake's own (the
platform's error-code table is not part of the documents we follow).
:meth:`FakeYeastar.start_call` posts Call Status Changed events (RING, then
ANSWER) to ``webhook_url`` and :meth:`hangup` the BYE; ``call/listen`` has the
simulator call the monitor extension's SIP URI with one plain INVITE carrying
the call's mixed audio (listen).
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import time
from typing import Any

from pbxsim.plan import SimLeg

from .placer import CallPlacer
from .server import FakeServer, Notifier, Reply, Request

API = "/openapi/v1.0"
ERR_TOKEN = (10004, "INVALID OR EXPIRED TOKEN")  # the fake's codes, see the docstring
ERR_LOGIN = (20003, "USERNAME OR PASSWORD ERROR")
ERR_PARAM = (10002, "PARAMETER ERROR")
ERR_FAILED = (20024, "FAILURE")
TYPES = ("listen", "whisper", "barge")


def err(code: tuple[int, str]) -> Reply:
    return Reply(200, {"errcode": code[0], "errmsg": code[1]})


class FakeYeastar(FakeServer):
    name = "yeastar"

    def __init__(
        self,
        *,
        client_id: str = "ys-client-id",
        client_secret: str = "ys-secret",
        placer: CallPlacer | None = None,
        token_lifetime_s: int = 1800,
        serial: str = "3631A2123456",
        auto_hangup: bool = True,
    ) -> None:
        super().__init__()
        self.client_id, self.client_secret = client_id, client_secret
        self.placer = placer or CallPlacer()
        self.token_lifetime_s = token_lifetime_s
        self.serial = serial
        self.auto_hangup = auto_hangup
        self.extensions: dict[str, str | None] = {}  # number -> SIP URI (None: a desk phone)
        self.monitor_allowed: set[str] = set()  # Extension > Features > Call Monitor
        self.webhook_url: str | None = None
        self.calls: dict[str, dict[str, Any]] = {}
        self.access: dict[str, float] = {}
        self.refresh: set[str] = set()
        self.grants: list[str] = []
        self.notifier = Notifier(self.name)
        self._n = itertools.count(276)
        self.route("POST", API + "/get_token", self._get_token, auth=False)
        self.route("POST", API + "/refresh_token", self._refresh_token, auth=False)
        self.route("POST", API + "/call/listen", self._listen)

    def error_body(self, status: int, message: str = "") -> Any:
        return {"errcode": status, "errmsg": message or "FAILURE"}

    def authorize(self, req: Request) -> Reply | None:
        if not req.headers.get("user-agent"):
            return err(ERR_PARAM)
        expiry = self.access.get(req.query.get("access_token", ""))
        if expiry is None or time.monotonic() > expiry:
            return err(ERR_TOKEN)
        return None

    def stop(self) -> None:
        self.notifier.close()
        super().stop()

    # -- tokens ----------------------------------------------------------------------
    def _issue(self, grant: str) -> Reply:
        self.grants.append(grant)
        access, refresh = secrets.token_hex(16), secrets.token_hex(16)
        self.access[access] = time.monotonic() + self.token_lifetime_s
        self.refresh.add(refresh)
        return Reply(
            200,
            {
                "errcode": 0,
                "errmsg": "SUCCESS",
                "access_token_expire_time": self.token_lifetime_s,
                "access_token": access,
                "refresh_token_expire_time": 86400,
                "refresh_token": refresh,
            },
        )

    def _get_token(self, req: Request, m: re.Match[str]) -> Reply:
        body = req.json()
        if not req.headers.get("user-agent") or not isinstance(body, dict):
            return err(ERR_PARAM)
        if body.get("username") != self.client_id or body.get("password") != self.client_secret:
            return err(ERR_LOGIN)
        return self._issue("get_token")

    def _refresh_token(self, req: Request, m: re.Match[str]) -> Reply:
        body = req.json()
        token = body.get("refresh_token") if isinstance(body, dict) else None
        if token not in self.refresh:
            return err(ERR_TOKEN)
        self.refresh.discard(token)
        return self._issue("refresh_token")

    def revoke_all(self) -> None:
        self.access.clear()

    # -- calls and events ----------------------------------------------------------------
    def _event(self, call: dict[str, Any], ext_status: str, caller_status: str) -> None:
        if self.webhook_url is None:
            return
        msg = {
            "call_id": call["call_id"],
            "members": [
                {
                    "extension": {
                        "number": call["ext"],
                        "channel_id": call["channel"],
                        "member_status": ext_status,
                        "call_path": "",
                    }
                },
                {
                    "inbound": {
                        "from": call["caller"],
                        "to": call["did"],
                        "trunk_name": "siptrunk",
                        "channel_id": call["trunk_channel"],
                        "member_status": caller_status,
                        "call_path": "",
                    }
                },
            ],
        }
        self.notifier.post(
            self.webhook_url, {"type": 30011, "sn": self.serial, "msg": json.dumps(msg)}
        )

    def start_call(self, ext: str, caller: str = "5503301", answer: bool = True) -> str:
        n = next(self._n)
        call_id = f"{1650094000 + n}.{549 + n}"
        call = {
            "call_id": call_id,
            "ext": ext,
            "caller": caller,
            "did": "5503300",
            "channel": f"PJSIP/{ext}-{n:08x}",
            "trunk_channel": f"PJSIP/siptrunk-{n + 1:08x}",
            "status": "RING",
        }
        with self.lock:
            self.calls[call_id] = call
        self._event(call, "RING", "ALERT")
        if answer:
            call["status"] = "ANSWER"
            self._event(call, "ANSWER", "ANSWERED")
        return call_id

    def hangup(self, call_id: str) -> None:
        with self.lock:
            call = self.calls.pop(call_id, None)
        if call is not None:
            self._event(call, "BYE", "BYE")

    def wait_delivered(self, count: int, timeout_s: float = 5.0) -> bool:
        return self.notifier.wait_delivered(count, timeout_s)

    # -- call/listen -------------------------------------------------------------------------
    def _listen(self, req: Request, m: re.Match[str]) -> Reply:
        body = req.json()
        if not isinstance(body, dict) or body.get("type") not in TYPES:
            return err(ERR_PARAM)
        monitor, channel = str(body.get("monitor", "")), str(body.get("channel_id", ""))
        if monitor not in self.extensions:
            return err(ERR_PARAM)
        call = next((c for c in self.calls.values() if c["channel"] == channel), None)
        if call is None or call["status"] != "ANSWER" or call["ext"] not in self.monitor_allowed:
            return err(ERR_FAILED)
        target = self.extensions[monitor]
        if target is not None:
            cid = call["call_id"]
            leg = SimLeg(cid, (self.placer.mixed_party(cid),), ())
            done = (lambda _r: self.hangup(cid)) if self.auto_hangup else None
            self.placer.place(target, (leg,), done)
        return Reply(200, {"errcode": 0, "errmsg": "SUCCESS", "call_id": call["call_id"]})
