"""The common fake API server: routes, credential checks, injected faults, a request log.

A :class:`FakeServer` is a ``ThreadingHTTPServer`` on 127.0.0.1 in a daemon
thread.  Subclasses add routes (method, path regex, handler) and say how a
request is authorised and what their platform's error body looks like.
:meth:`FakeServer.fail` queues an error answer (status, body, headers) for the
next N matching requests, :meth:`FakeServer.malformed` a 200 whose body is not
JSON; every request is logged in :attr:`FakeServer.requests` for asserts.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-case
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body.strip() else None
        except ValueError:
            return None

    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.body.decode("utf-8", "replace")))


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded, unless bytes
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request, "re.Match[str]"], Reply]


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    reply: Reply
    times: int


class FakeServer:
    name = "fake"

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler, bool, bool]] = []
        self.faults: list[_Fault] = []
        self.requests: list[Request] = []
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # -- set-up ------------------------------------------------------------------
    def route(
        self, method: str, pattern: str, handler: Handler, auth: bool = True, locked: bool = True
    ) -> None:
        """``locked``: run the handler holding :attr:`lock` (off for handlers that call out)."""
        self.routes.append((method, re.compile(pattern + r"\Z"), handler, auth, locked))

    def fail(
        self,
        method: str,
        pattern: str,
        status: int,
        body: Any = None,
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (default error body)."""
        reply = Reply(status, body if body is not None else self.error_body(status), headers or {})
        with self.lock:
            self.faults.append(_Fault(method, re.compile(pattern), reply, times))

    def malformed(self, method: str, pattern: str, times: int = 1) -> None:
        """Answer 200 with a body that is not JSON (a proxy's HTML page)."""
        with self.lock:
            self.faults.append(
                _Fault(method, re.compile(pattern), Reply(200, b"<html>502 upstream</html>"), times)
            )

    def seen(self, method: str, pattern: str) -> list[Request]:
        rx = re.compile(pattern)
        with self.lock:
            return [r for r in self.requests if r.method == method and rx.search(r.path)]

    # -- per platform --------------------------------------------------------------
    def error_body(self, status: int, message: str = "") -> Any:
        return {"message": message or f"error {status}"}

    def authorize(self, req: Request) -> Reply | None:
        """None when the request carries valid credentials, else the error reply."""
        return None

    # -- serving -------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeServer:
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _do(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urllib.parse.urlsplit(self.path)
                req = Request(
                    self.command,
                    urllib.parse.unquote(parts.path),
                    dict(urllib.parse.parse_qsl(parts.query)),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                reply = fake.handle(req)
                data = (
                    reply.body
                    if isinstance(reply.body, bytes)
                    else (b"" if reply.body is None else json.dumps(reply.body).encode())
                )
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _do  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name=f"fake-{self.name}", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def handle(self, req: Request) -> Reply:
        with self.lock:
            self.requests.append(req)
            for fault in self.faults:
                if (
                    fault.times > 0
                    and fault.method == req.method
                    and fault.pattern.search(req.path)
                ):
                    fault.times -= 1
                    return fault.reply
        allowed = False
        for method, pattern, handler, auth, locked in self.routes:
            m = pattern.match(req.path)
            if not m:
                continue
            allowed = True
            if method != req.method:
                continue
            if auth:
                denied = self.authorize(req)
                if denied is not None:
                    return denied
            if not locked:
                return handler(req, m)
            with self.lock:
                return handler(req, m)
        if allowed:
            return Reply(405, self.error_body(405, f"{req.method} not allowed on {req.path}"))
        return Reply(404, self.error_body(404, f"no resource at {req.path}"))


class Notifier:
    """Posts JSON notifications (webhooks) from a sender thread, in order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.delivered: list[Any] = []
        self._queue: queue.Queue[tuple[str, Any, dict[str, str]] | None] = queue.Queue()
        self._cond = threading.Condition()
        threading.Thread(target=self._loop, name=f"{name}-webhook", daemon=True).start()

    def post(self, url: str, body: Any, headers: dict[str, str] | None = None) -> None:
        self._queue.put((url, body, headers or {}))

    def close(self) -> None:
        self._queue.put(None)

    def wait_delivered(self, count: int, timeout_s: float = 5.0) -> bool:
        """Block until ``count`` notifications were posted (delivered or failed)."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self.delivered) >= count, timeout_s)

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            url, body, headers = item
            req = urllib.request.Request(
                url,
                data=json.dumps(body).encode(),
                method="POST",
                headers={"Content-Type": "application/json", **headers},
            )
            try:
                urllib.request.urlopen(req, timeout=5).close()
            except OSError as err:
                log.warning("fake %s: webhook delivery to %s failed: %s", self.name, url, err)
            with self._cond:
                self.delivered.append(body)
                self._cond.notify_all()
