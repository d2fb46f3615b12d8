"""A minimal CometD (Bayeux 1.0) long-polling client, for Genesys Web Services notifications.

``handshake`` gets a ``clientId``, ``subscribe`` joins a channel
(``/v2/me/devices``), ``connect`` long-polls and returns the data messages
delivered meanwhile (``{"channel": ..., "data": {...}}``).  When the server
advises ``reconnect: handshake`` (an expired client) the client handshakes and
subscribes again.  Every message exchange is one JSON-array POST through the
shared :class:`~platforms.http.HttpClient`.
"""

from __future__ import annotations

import logging
from typing import Any

from .errors import BadRequest, MalformedResponse
from .http import Auth, HttpClient

log = logging.getLogger(__name__)


class CometD:
    def __init__(self, http: HttpClient, path: str, auth: Auth | None = None) -> None:
        self.http, self.path, self.auth = http, path, auth
        self.client_id: str | None = None
        self.channels: list[str] = []

    def _send(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        r = self.http.request(
            "POST",
            self.path,
            json_body=[message],
            auth=self.auth,
            idempotent=message["channel"] != "/meta/subscribe",
        )
        body = r.json()
        if not isinstance(body, list) or not all(isinstance(m, dict) for m in body):
            raise MalformedResponse(self.http.platform, f"POST {self.path}: not a Bayeux array")
        return body

    def _reply(self, messages: list[dict[str, Any]], channel: str) -> dict[str, Any]:
        reply = next((m for m in messages if m.get("channel") == channel), None)
        if reply is None:
            raise MalformedResponse(self.http.platform, f"no {channel} reply")
        return reply

    def handshake(self) -> None:
        reply = self._reply(
            self._send(
                {
                    "channel": "/meta/handshake",
                    "version": "1.0",
                    "minimumVersion": "1.0",
                    "supportedConnectionTypes": ["long-polling"],
                }
            ),
            "/meta/handshake",
        )
        if not reply.get("successful") or not reply.get("clientId"):
            raise BadRequest(self.http.platform, f"CometD handshake refused: {reply.get('error')}")
        self.client_id = str(reply["clientId"])
        for channel in self.channels:
            self._subscribe(channel)

    def subscribe(self, channel: str) -> None:
        if channel not in self.channels:
            self.channels.append(channel)
        if self.client_id is None:
            self.handshake()
        else:
            self._subscribe(channel)

    def _subscribe(self, channel: str) -> None:
        reply = self._reply(
            self._send(
                {"channel": "/meta/subscribe", "clientId": self.client_id, "subscription": channel}
            ),
            "/meta/subscribe",
        )
        if not reply.get("successful"):
            raise BadRequest(
                self.http.platform, f"CometD subscribe to {channel} refused: {reply.get('error')}"
            )

    def connect(self) -> list[dict[str, Any]]:
        """One long poll: the data messages delivered (possibly none)."""
        if self.client_id is None:
            self.handshake()
        messages = self._send(
            {
                "channel": "/meta/connect",
                "clientId": self.client_id,
                "connectionType": "long-polling",
            }
        )
        meta = next((m for m in messages if m.get("channel") == "/meta/connect"), None)
        if meta is not None and not meta.get("successful"):
            advice = meta["advice"] if isinstance(meta.get("advice"), dict) else {}
            log.info(
                "%s: CometD connect refused (%s); handshaking again",
                self.http.platform,
                meta.get("error"),
            )
            self.client_id = None
            if advice.get("reconnect") != "none":
                self.handshake()
        return [
            m
            for m in messages
            if not str(m.get("channel", "")).startswith("/meta/") and "data" in m
        ]
