"""A local HTTP listener for the notifications a platform pushes (webhooks).

RingCentral's WebHook transport first posts a validation request carrying a
``Validation-Token`` header that must be echoed back, then posts each
notification as a JSON body (with the subscription's ``Verification-Token``
header when one was set: others are refused 403).  Yeastar's webhook posts
its events the same way, without tokens.  Received bodies wait in a bounded
queue (``capacity``, policy ``drop_oldest_notification``, counted) until the
watcher drains them; a body that is not JSON is answered 400, logged and
counted, never queued.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .secret import Secret

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20


class WebhookListener:
    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, capacity: int = 1000, path: str = "/"
    ) -> None:
        self.host, self.port, self.path = host, port, path
        self.verification_token: Secret | None = None
        self._queue: deque[Any] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self.arrived = threading.Event()
        self.dropped = 0
        self.malformed = 0
        self.refused = 0
        self.validations = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    def start(self) -> None:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                listener._post(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("webhook: " + format, *args)

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="webhook", daemon=True
        )
        self._thread.start()
        log.info("webhook listener on %s", self.url)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def drain(self) -> list[Any]:
        with self._lock:
            items = list(self._queue)
            self._queue.clear()
            self.arrived.clear()
        return items

    def _post(self, h: BaseHTTPRequestHandler) -> None:
        validation = h.headers.get("Validation-Token")
        if validation is not None:  # RingCentral's subscription check: echo it back
            self.validations += 1
            self._reply(h, 200, {"Validation-Token": validation})
            return
        token = self.verification_token
        if token is not None:
            got = h.headers.get("Verification-Token", "")
            if not hmac.compare_digest(got.encode(), token.reveal().encode()):
                self.refused += 1
                log.warning(
                    "webhook: refused a notification without the verification token from %s",
                    h.client_address[0],
                )
                self._reply(h, 403)
                return
        try:
            length = int(h.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.malformed += 1
            log.warning(
                "webhook: notification with a bad length (%s) dropped",
                h.headers.get("Content-Length"),
            )
            self._reply(h, 400)
            return
        raw = h.rfile.read(length)
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as err:
            self.malformed += 1
            log.warning("webhook: malformed notification (%d bytes) dropped: %s", len(raw), err)
            self._reply(h, 400)
            return
        with self._lock:
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1  # policy: drop_oldest_notification
            self._queue.append(body)
            self.arrived.set()
        self._reply(h, 200)

    @staticmethod
    def _reply(
        h: BaseHTTPRequestHandler, status: int, headers: dict[str, str] | None = None
    ) -> None:
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", "0")
        h.end_headers()
